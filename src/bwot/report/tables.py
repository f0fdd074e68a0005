"""The results table in the original's shape: rows NN FT ST E DCG mAP, one column per loss (+ the paper)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from bwot.evaluation.metrics import METRICS

# Xu, Sun, Liu (CVPR 2019), batch-wise OT, the reported tables.
PAPER: dict[str, dict[str, float]] = {
    "shrec13": {"NN": 0.713, "FT": 0.728, "ST": 0.788, "E": 0.366, "DCG": 0.818, "mAP": 0.754},
    "shrec14": {"NN": 0.536, "FT": 0.564, "ST": 0.629, "E": 0.305, "DCG": 0.712, "mAP": 0.591},
}
PAPER_COLUMN = "paper (OT)"


def metrics_table(metrics: Mapping[str, Mapping[str, float]], dataset: str | None = None) -> pd.DataFrame:
    """Rows NN FT ST E DCG mAP, a column per loss, and for shrec13/shrec14 the paper's numbers."""
    missing = {loss: [m for m in METRICS if m not in values] for loss, values in metrics.items()}
    missing = {loss: keys for loss, keys in missing.items() if keys}
    if missing:
        raise ValueError(f"metrics without some of {', '.join(METRICS)}: {missing}")
    table = pd.DataFrame({loss: [float(v[m]) for m in METRICS] for loss, v in metrics.items()}, index=METRICS)
    if dataset in PAPER:
        table[PAPER_COLUMN] = [PAPER[dataset][m] for m in METRICS]
    table.index.name = "metric"
    return table
