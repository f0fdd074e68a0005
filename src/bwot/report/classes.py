"""Where a result comes from, class by class: each query class's mAP with its interval (bars), and which
classes the top-k models of each query class belong to (a row-normalised confusion matrix)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import PowerNorm

from bwot.io import PathLike
from bwot.report.plots import color, save_figure

# above this many classes the confusion matrix shows no numbers in its cells
ANNOTATE_UP_TO = 15


def plot_per_class(
    table: pd.DataFrame, loss: str, path: PathLike, *, overall: float | None = None, title: str = ""
) -> None:
    """Horizontal bars: `loss`'s mean per query class (rows of per_class_intervals), best class at the
    top, with its 95% interval as an error bar; a dotted line at the overall value. The figure grows with
    the number of classes (a row each), so 171 classes stay readable when zoomed."""
    rows = table[table["loss"] == loss].sort_values(["mean", "label"], ascending=[False, True])
    if rows.empty:
        raise ValueError(f"no per-class values of loss {loss!r}")
    n = len(rows)
    row_in = 0.28 if n <= 30 else 0.16
    fig, ax = plt.subplots(figsize=(7.2, 1.4 + row_in * n))
    y = np.arange(n)
    err = np.vstack([rows["mean"] - rows["low"], rows["high"] - rows["mean"]])
    ax.barh(y, rows["mean"], color=color(loss), alpha=0.75, height=0.72)
    ax.errorbar(rows["mean"], y, xerr=err, fmt="none", ecolor="0.15", elinewidth=1, capsize=2)
    size = 9 if n <= 30 else 7 if n <= 80 else 6
    ax.set_yticks(
        y, [f"{c} ({q})" for c, q in zip(rows["class"], rows["n_queries"], strict=True)], fontsize=size
    )
    ax.invert_yaxis()  # best first
    ax.set_ylim(n - 0.5, -0.5)
    metric = rows["metric"].iloc[0]
    title = title or f"{metric} per class: {loss}"
    if overall is not None:  # said in the title: a legend would hide a bar
        ax.axvline(overall, color="0.3", ls=":", lw=1.2)
        title += f"\n(dotted line: the {metric} of all queries, {overall:.3f})"
    ax.set(xlim=(0, 1.0), xlabel=f"{metric} of the class's query sketches (95% interval)")
    ax.set_ylabel("query class (number of query sketches)")
    ax.grid(axis="x", alpha=0.3)
    ax.xaxis.set_ticks_position("both")
    ax.tick_params(axis="x", labeltop=True)
    ax.set_title(title, fontsize=10)
    save_figure(fig, path)


def class_confusion(
    ranking: dict[str, np.ndarray], n_classes: int, k: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """(n_classes, n_classes) row-normalised counts: row = the query's class, column = the class of each of
    its top-k models (ranking.npz's `topk`, nearest first; targets with an infinite distance, skipped
    upstream, are left out); and the number of queries of each row (a row without queries is NaN)."""
    topk = ranking["topk"][:, :k]
    finite = np.isfinite(ranking["topk_dist"][:, :k])
    rows = np.broadcast_to(ranking["query_labels"][:, None], topk.shape)[finite]
    cols = ranking["target_labels"][topk][finite]
    counts = np.zeros((n_classes, n_classes))
    np.add.at(counts, (rows, cols), 1)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.where(totals > 0, counts / totals, np.nan)
    queries = np.bincount(ranking["query_labels"], minlength=n_classes)
    return matrix, queries


def plot_confusion(
    matrix: np.ndarray, classes: Sequence[str], path: PathLike, *, k: int = 10, title: str = ""
) -> None:
    """The confusion matrix as an image, classes in label order on both axes, every class named (the
    figure grows with the classes: 171 stay legible when zoomed), the values written in the cells up to
    ANNOTATE_UP_TO classes."""
    n = len(classes)
    cell = 0.5 if n <= ANNOTATE_UP_TO else max(0.11, min(0.3, 12 / n))
    side = min(22.0, max(4.5, cell * n))
    fig, ax = plt.subplots(figsize=(side + 2.2, side + 1.6))
    shown = np.ma.masked_invalid(matrix)
    cmap = plt.get_cmap("Blues").with_extremes(bad="0.85")  # a class without queries: grey
    # a square-root scale: the few percent that a confusion among many classes takes stay visible
    image = ax.imshow(shown, cmap=cmap, norm=PowerNorm(0.5, vmin=0, vmax=1), interpolation="nearest")
    size = 9 if n <= ANNOTATE_UP_TO else max(4.0, min(8.0, cell * 72 * 0.8))  # a name fits its cell
    ax.set_xticks(np.arange(n), classes, rotation=90, fontsize=size)
    ax.set_yticks(np.arange(n), classes, fontsize=size)
    if n <= ANNOTATE_UP_TO:
        for i, j in zip(*np.nonzero(np.nan_to_num(matrix) >= 0.005), strict=True):
            value = matrix[i, j]
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7.5,
                    color="white" if value > 0.3 else "0.1")  # fmt: skip
    ax.set_xlabel(f"class of the top-{k} retrieved models")
    ax.set_ylabel("class of the query sketch")
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label(f"share of the top-{k} models (row sums to 1; square-root scale)")
    bar.set_ticks([0, 0.02, 0.1, 0.25, 0.5, 0.75, 1])
    ax.set_title(title or f"Class confusion of the top {k}", fontsize=10)
    save_figure(fig, path)


__all__ = ["class_confusion", "plot_confusion", "plot_per_class"]
