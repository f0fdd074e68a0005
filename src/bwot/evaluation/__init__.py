"""Retrieval evaluation: the SHREC metrics, rank-list files and the `evaluate` stage.

`retrieval_metrics(distances, query_labels, target_labels)` is the public entry point (docs/evaluation.md);
definitions and their fine print are in `bwot.evaluation.metrics`.
"""

from bwot.evaluation.metrics import (
    METRICS,
    NoRelevantTargetsError,
    QueryMetrics,
    per_class_table,
    per_query_metrics,
    pr_recall_levels,
    retrieval_metrics,
)
from bwot.evaluation.ranklists import read_ranklist, write_ranklists

__all__ = [
    "METRICS",
    "NoRelevantTargetsError",
    "QueryMetrics",
    "per_class_table",
    "per_query_metrics",
    "pr_recall_levels",
    "read_ranklist",
    "retrieval_metrics",
    "write_ranklists",
]
