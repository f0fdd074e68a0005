"""The results table in the original's shape: rows NN FT ST E DCG mAP, one column per loss (+ the paper)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pandas as pd

from bwot.evaluation.metrics import METRICS
from bwot.io import PathLike

# Xu, Sun, Liu (CVPR 2019), batch-wise OT, the reported tables.
PAPER: dict[str, dict[str, float]] = {
    "shrec13": {"NN": 0.713, "FT": 0.728, "ST": 0.788, "E": 0.366, "DCG": 0.818, "mAP": 0.754},
    "shrec14": {"NN": 0.536, "FT": 0.564, "ST": 0.629, "E": 0.305, "DCG": 0.712, "mAP": 0.591},
}
PAPER_COLUMN = "paper (OT)"


def read_metrics(paths: Mapping[str, PathLike]) -> dict[str, dict]:
    """{loss: metrics.json content} in the given order."""
    return {loss: json.loads(open(path).read()) for loss, path in paths.items()}


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


def to_markdown(table: pd.DataFrame, losses: Sequence[str], digits: int = 3) -> str:
    """A GitHub markdown table; the best of our losses in each row in bold (ties all bold)."""
    header = ["metric", *table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":--"] + ["--:"] * len(table.columns)) + "|"]
    for metric, row in table.iterrows():
        best = max(row[loss] for loss in losses) if losses else None
        cells = []
        for col, value in row.items():
            text = f"{value:.{digits}f}"
            bold = col in losses and len(losses) > 1 and round(value, digits) == round(best, digits)
            cells.append(f"**{text}**" if bold else text)
        lines.append("| " + " | ".join([str(metric), *cells]) + " |")
    return "\n".join(lines) + "\n"


def metrics_markdown(table: pd.DataFrame, losses: Sequence[str], title: str, info: str = "") -> str:
    """metrics.md: a title, what the numbers were computed on (`info`), the table and the definitions."""
    facts = info
    note = (
        "NN: precision at rank 1; FT/ST: recall within the first C / 2C results (C = size of the query's "
        "class); E: F-measure of precision and recall over the first 32 results; DCG: normalised discounted "
        "cumulative gain; mAP: mean average precision. Best of our losses in bold."
    )
    parts = [f"# {title}", "", facts, "", to_markdown(table, losses), note]
    if PAPER_COLUMN in table.columns:
        parts.append(
            f"\n`{PAPER_COLUMN}`: the numbers reported by Xu, Sun and Liu (CVPR 2019) for their OT loss."
        )
    return "\n".join(parts) + "\n"
