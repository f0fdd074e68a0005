"""PR curves of all losses in one plot, and training convergence (loss and validation mAP against step)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bwot.io import PathLike, atomic_path

# One colour per loss in every figure; OT stands out.
COLORS = {
    "ot": "#d62728",
    "contrastive": "#1f77b4",
    "lifted": "#2ca02c",
    "npair": "#ff7f0e",
    "triplet": "#9467bd",
}
MARKERS = {"ot": "o", "contrastive": "s", "lifted": "^", "npair": "D", "triplet": "v"}
PLOTTED_COLUMNS = ("step", "loss", "val_map")


def color(loss: str, i: int = 0) -> str:
    """A loss's colour: its own, or one of matplotlib's C5..C9 (none of them one of COLORS)."""
    return COLORS.get(loss, f"C{5 + i % 5}")


def line(ax: plt.Axes, x, y, loss: str, i: int, label: str, lw: float = 1.6) -> None:
    """One loss's curve in its colour and marker."""
    ax.plot(x, y, marker=MARKERS.get(loss, "x"), ms=4, lw=lw, color=color(loss, i), label=label)


def save_figure(fig: plt.Figure, path: PathLike, dpi: int = 130) -> None:
    """Save a figure as PNG atomically and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    plt.close(fig)


def plot_pr_curves(
    curves: Mapping[str, pd.DataFrame], path: PathLike, *, maps: Mapping[str, float] | None = None, title=""
) -> None:
    """All losses' 20-point PR curves (columns recall, precision) in one plot; legend with mAP when given."""
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for i, (loss, pr) in enumerate(curves.items()):
        label = loss if not maps or loss not in maps else f"{loss} (mAP {maps[loss]:.3f})"
        line(ax, pr["recall"], pr["precision"], loss, i, label, lw=1.8)
    ax.set(
        xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02), title=title or "Precision-recall"
    )
    ax.set_xticks(np.linspace(0, 1, 11))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", framealpha=0.9)
    save_figure(fig, path)


def read_history(path: PathLike) -> pd.DataFrame:
    """metric/{loss}/seed-{seed}/history.csv with the columns the plot needs (val_map empty between
    validations)."""
    table = pd.read_csv(path)
    missing = [c for c in PLOTTED_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: history without columns {missing} (has {list(table.columns)})")
    return table


def _smooth(values: pd.Series, n: int) -> pd.Series:
    window = max(1, n // 50)
    return values.rolling(window, min_periods=1, center=True).mean()


def plot_convergence(histories: Mapping[str, pd.DataFrame], path: PathLike, *, title: str = "") -> None:
    """Top: training loss per loss (own panel each: their scales differ); bottom: validation mAP of all."""
    n = max(1, len(histories))
    fig = plt.figure(figsize=(3.2 * max(n, 2), 6.4), layout="constrained")
    grid = fig.add_gridspec(2, n, height_ratios=[1, 1.15])
    val_ax = fig.add_subplot(grid[1, :])
    for i, (loss, h) in enumerate(histories.items()):
        ax = fig.add_subplot(grid[0, i])
        c = color(loss, i)
        ax.plot(h["step"], h["loss"], color=c, alpha=0.25, lw=0.8)
        ax.plot(h["step"], _smooth(h["loss"], len(h)), color=c, lw=1.6)
        values = h["loss"].dropna()
        if len(values) and values.min() > 0 and values.max() > 10 * values.quantile(0.05):
            ax.set_yscale("log")  # a large first drop would flatten the rest of the curve
        ax.set_title(loss, color=c, fontweight="bold")
        ax.set_xlabel("step")
        if i == 0:
            ax.set_ylabel("training loss")
        ax.grid(alpha=0.3)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
        val = h.dropna(subset=["val_map"])
        if len(val):
            label = f"{loss} (last {val['val_map'].iloc[-1]:.3f})"
            line(val_ax, val["step"], val["val_map"], loss, i, label, lw=1.6)
    val_ax.set(xlabel="step", ylabel="validation mAP", title="Validation mAP")
    val_ax.grid(alpha=0.3)
    if val_ax.has_data():
        val_ax.legend(loc="lower right", frameon=False)
    else:
        val_ax.text(0.5, 0.5, "no validation points", ha="center", va="center", transform=val_ax.transAxes)
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


def mean_pr_curve(paths: Sequence[PathLike]) -> pd.DataFrame:
    """The PR curve (recall, precision) of several pr.csv files (a run's seeds), averaged; ValueError
    naming the file when one has other recall levels than the first."""
    curves = [pd.read_csv(p) for p in paths]
    for path, curve in zip(paths[1:], curves[1:], strict=True):
        if not np.array_equal(curve["recall"], curves[0]["recall"]):
            raise ValueError(f"{path}: other recall levels than {paths[0]}")
    out = curves[0][["recall"]].copy()
    out["precision"] = np.mean([c["precision"].to_numpy(float) for c in curves], axis=0)
    return out
