"""What `evaluate` writes and what later stages read back: metrics.json, pr.csv, per_class.csv,
per_query.csv, ranking.npz and the SHREC rank lists; classes.txt."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bwot.evaluation.metrics import per_class_table, pr_recall_levels
from bwot.evaluation.ranklists import write_ranklists
from bwot.io import PathLike, atomic_path, write_csv, write_json

if TYPE_CHECKING:
    from bwot.evaluation.evaluate import Evaluation

log = logging.getLogger(__name__)


def write_outputs(
    result: Evaluation,
    *,
    metrics_json: PathLike,
    pr_csv: PathLike,
    per_class_csv: PathLike,
    ranking_npz: PathLike,
    per_query_csv: PathLike | None = None,
    classes: list[str] | None = None,
    ranklists_dir: PathLike | None = None,
) -> None:
    """metrics.json, pr.csv, per_class.csv, ranking.npz, per_query.csv (what the confidence intervals
    resample) and (optionally) the SHREC rank lists."""
    write_json(metrics_json, result.summary())
    if per_query_csv is not None:
        write_csv(per_query_csv, per_query_table(result))
    pr = pd.DataFrame({"recall": pr_recall_levels(), "precision": result.metrics.pr_curve()})
    write_csv(pr_csv, pr)
    table = per_class_table(result.metrics, result.queries.labels, result.target_labels, classes)
    write_csv(per_class_csv, table)
    write_ranking(ranking_npz, result)
    if ranklists_dir is not None:
        write_ranklists(ranklists_dir, list(result.queries.ids), list(result.target_ids), result.distances)
        log.info("wrote %d rank lists to %s", len(result.queries.ids), ranklists_dir)


def per_query_table(result: Evaluation) -> pd.DataFrame:
    """One row per query: its name, sketch, rotation, label and the six metrics (AP for mAP)."""
    q, m = result.queries, result.metrics
    table = pd.DataFrame({"query": q.ids, "sketch": q.sketch_ids, "rotation": q.rotations, "label": q.labels})
    for name, values in (("NN", m.NN), ("FT", m.FT), ("ST", m.ST), ("E", m.E), ("DCG", m.DCG), ("mAP", m.AP)):
        table[name] = values
    return table


def write_ranking(path: PathLike, result: Evaluation) -> None:
    """ranking.npz: ids and labels of both sides, and the top-10 targets (indices, distances) per query."""
    topk, topk_dist = result.metrics.topk, result.metrics.topk_dist
    if topk is None or topk_dist is None:
        raise ValueError("write_ranking needs metrics computed with topk > 0")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(
            f,
            query_ids=result.queries.ids.astype(str),
            query_sketch_ids=result.queries.sketch_ids.astype(str),
            query_rotations=result.queries.rotations.astype(np.int32),
            query_labels=result.queries.labels,
            target_ids=result.target_ids.astype(str),
            target_labels=result.target_labels,
            topk=topk,
            topk_dist=topk_dist,
        )


def read_ranking(path: PathLike) -> dict[str, np.ndarray]:
    """ranking.npz as a dict of arrays."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def read_classes(path: PathLike | None) -> list[str] | None:
    """classes.txt (one name per line, label order), or None."""
    if path is None:
        return None
    return [line for line in Path(path).read_text().splitlines() if line]
