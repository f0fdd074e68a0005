"""The retrieval gallery: test sketches, each followed by its top-10 models (one rendered view each),
framed green when the model is of the sketch's class and red otherwise (grey when the sketch's class is
not known: a drawn query)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bwot.io import PathLike, read_shard_images
from bwot.report.plots import save_figure

GOOD, BAD, QUERY, UNKNOWN = "#1a9850", "#d73027", "#333333", "#8c8c8c"


@dataclass
class GalleryRow:
    """One query: its sketch image and class, then the retrieved models' images, classes and correctness.

    `correct` None: the query's class is not known (no frame colour, every class written). `captions`: a
    text over each model (e.g. its class and distance) instead of the class of the wrong ones."""

    sketch: np.ndarray
    query_class: str
    images: list[np.ndarray]
    classes: list[str]
    correct: list[bool] | None
    captions: list[str] | None = None
    note: str | None = None  # a line under the count at the left (e.g. the query's AP)


def pick_queries(ranking: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Up to `n` rows of ranking.npz with upright sketches, spread evenly over the query classes:
    the first sketch of each of n evenly spaced classes (then second sketches, if n > classes)."""
    upright = np.flatnonzero(ranking.get("query_rotations", np.zeros(len(ranking["query_ids"]))) == 0)
    labels = ranking["query_labels"][upright]
    classes = np.unique(labels)
    by_class = [upright[labels == c] for c in classes]
    picked: list[int] = []
    depth = 0
    while len(picked) < n and depth < max(len(rows) for rows in by_class):
        spread = np.unique(np.linspace(0, len(classes) - 1, min(n - len(picked), len(classes))).round())
        for i in spread.astype(int):
            if depth < len(by_class[i]):
                picked.append(int(by_class[i][depth]))
        depth += 1
    return np.array(picked[:n], dtype=int)


def gallery_rows(
    ranking: dict[str, np.ndarray],
    sketch_shards: Sequence[PathLike],
    view_shards: Sequence[PathLike],
    classes: Sequence[str],
    *,
    n_queries: int = 8,
    view: int = 0,
    rows: Sequence[int] | None = None,
    notes: Sequence[str] | None = None,
) -> list[GalleryRow]:
    """Read the images of the picked queries (pick_queries; or the ranking's `rows`, in their order) and
    of their top-10 models. `notes`: a line for each row, written under its count of correct models."""
    rows = pick_queries(ranking, n_queries) if rows is None else np.asarray(rows, dtype=int)
    sketch_ids = ranking.get("query_sketch_ids", ranking["query_ids"])
    sketches = read_shard_images(sketch_shards, [str(sketch_ids[r]) for r in rows], 0)
    # a target skipped upstream (no views) has distance inf: it is ranked, but has no picture to show
    shown = [
        top[np.isfinite(dist)]
        for top, dist in zip(ranking["topk"][rows], ranking["topk_dist"][rows], strict=True)
    ]
    target_ids = ranking["target_ids"]
    views = read_shard_images(view_shards, sorted({str(target_ids[t]) for t in np.concatenate(shown)}), view)
    out = []
    for i, (r, targets) in enumerate(zip(rows, shown, strict=True)):
        q_label = int(ranking["query_labels"][r])
        t_labels = ranking["target_labels"][targets]
        out.append(
            GalleryRow(
                sketch=sketches[str(sketch_ids[r])],
                query_class=classes[q_label],
                images=[views[str(target_ids[t])] for t in targets],
                classes=[classes[int(t)] for t in t_labels],
                correct=[bool(t == q_label) for t in t_labels],
                note=None if notes is None else notes[i],
            )
        )
    return out


def worst_queries(per_query: pd.DataFrame, ranking: dict[str, np.ndarray], n: int) -> pd.DataFrame:
    """The `n` upright queries of lowest AP (per_query.csv's `mAP` column; ties in query order) with their
    row of ranking.npz (`row`), lowest first."""
    rows = pd.Series(np.arange(len(ranking["query_ids"])), index=ranking["query_ids"].astype(str))
    table = per_query.assign(row=rows.reindex(per_query["query"].astype(str)).to_numpy())
    missing = table["row"].isna()
    if missing.any():
        raise ValueError(f"queries of per_query.csv not in ranking.npz: {list(table['query'][missing][:5])}")
    upright = table[table["rotation"] == 0] if "rotation" in table else table
    worst = upright.sort_values("mAP", kind="stable").head(n)
    return worst.assign(row=worst["row"].astype(int)).reset_index(drop=True)


def _frame(ax: plt.Axes, colour: str, width: float) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(width)


def plot_gallery(rows: Sequence[GalleryRow], path: PathLike, *, title: str = "") -> None:
    """A grid: one row per query, its sketch then its top-k models; green = right class, red = wrong."""
    if not rows:
        raise ValueError("no gallery rows to draw")
    k = max(len(r.images) for r in rows)
    cell = 1.05
    fig, axes = plt.subplots(
        len(rows),
        k + 1,
        figsize=(cell * (k + 1) + 0.4, cell * len(rows) + 0.9),
        squeeze=False,
        gridspec_kw={"wspace": 0.08, "hspace": 0.32},
    )
    for i, row in enumerate(rows):
        ax = axes[i, 0]
        ax.imshow(row.sketch, cmap="gray", vmin=0, vmax=255)
        _frame(ax, QUERY, 2.0)
        ax.set_title(row.query_class, fontsize=8, fontweight="bold", pad=2)
        if row.correct is not None:
            count = f"{sum(row.correct)}/{len(row.correct)}"
            ax.set_ylabel(count + (f"\n{row.note}" if row.note else ""), fontsize=8, rotation=0,
                          labelpad=20 if row.note else 14, va="center")  # fmt: skip
        for j in range(k):
            ax = axes[i, j + 1]
            if j >= len(row.images):
                ax.axis("off")
                continue
            ax.imshow(row.images[j], cmap="gray", vmin=0, vmax=255)
            colour = UNKNOWN if row.correct is None else GOOD if row.correct[j] else BAD
            _frame(ax, colour, 3.0)
            if row.captions is not None:
                text = QUERY if colour == UNKNOWN else colour
                ax.set_title(row.captions[j], fontsize=6.5, color=text, pad=2)
            elif colour != GOOD:
                ax.set_title(row.classes[j], fontsize=6.5, color=colour, pad=2)
    for j in range(k):
        axes[-1, j + 1].set_xlabel(f"#{j + 1}", fontsize=8)
    axes[-1, 0].set_xlabel("query", fontsize=8)
    height = fig.get_figheight()
    fig.subplots_adjust(top=1 - 0.55 / height, bottom=0.35 / height, left=0.05, right=0.99)
    fig.suptitle(
        title or "Retrieval gallery: sketch, then its top models (green = same class, red = other class)",
        fontsize=10,
        y=1 - 0.12 / height,
    )
    save_figure(fig, path)
