"""A 2-D map of the joint embedding space: the test split's upright sketches and the target shapes, embedded
by one trained metric model as evaluate embeds them, laid out together by t-SNE (scikit-learn, seeded).

The cost is bounded: each modality keeps at most MAX_PER_MODALITY points (a seeded random draw, without
replacement, when it has more), so t-SNE never sees more than 2 x MAX_PER_MODALITY points; fewer than
MIN_TSNE points together are laid out by PCA instead (t-SNE needs a neighbourhood to work with).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from bwot.evaluation.evaluate import embed_queries, embed_targets
from bwot.io import PathLike
from bwot.metric import load_metric_model
from bwot.report.plots import save_figure

MAX_PER_MODALITY = 1000  # 2000 points: about half a minute of t-SNE on one core
MIN_TSNE = 12
LEGEND_UP_TO = 20  # classes named in the legend; more are told apart by colour only


@dataclass(frozen=True)
class MapInputs:
    """What the map is made of: a metric model (metric/<loss>/seed-<s>/model.pt) and the feature files."""

    model: PathLike
    sketches: PathLike  # features/sketches.h5 (its test split is drawn)
    shapes: PathLike  # features/shapes.h5 (every target with features)


@dataclass
class EmbeddingMap:
    """The 2-D points: coordinates, class labels, modality (True = sketch), and how they were made."""

    xy: np.ndarray  # (n, 2)
    labels: np.ndarray  # (n,)
    is_sketch: np.ndarray  # (n,) bool
    method: str  # "t-SNE" or "PCA"
    n_sketches: tuple[int, int]  # (shown, of)
    n_shapes: tuple[int, int]


def subsample(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of at most `limit` of n items, in increasing order: all of them, or a random draw."""
    if n <= limit:
        return np.arange(n)
    return np.sort(rng.choice(n, limit, replace=False))


def embedding_map(
    inputs: MapInputs,
    *,
    seed: int = 0,
    distance: str = "euclidean",
    max_per_modality: int = MAX_PER_MODALITY,
) -> EmbeddingMap:
    """Embed the upright test sketches and the shapes with the model, keep at most `max_per_modality` of
    each (drawn with `seed`), and lay them out together in 2-D: t-SNE with the run's distance
    (`euclidean` or `cosine`) and random_state `seed`, or PCA when there are fewer than MIN_TSNE points."""
    model = load_metric_model(inputs.model, device="cpu")
    queries = embed_queries(model, inputs.sketches, "upright")
    _, shape_labels, shapes = embed_targets(model, inputs.shapes)
    rng = np.random.default_rng(seed)
    s_idx = subsample(len(queries.labels), max_per_modality, rng)
    t_idx = subsample(len(shape_labels), max_per_modality, rng)
    points = np.concatenate([queries.embeddings[s_idx], shapes[t_idx]]).astype(np.float64)
    if distance == "cosine":  # t-SNE and PCA see what the ranking sees
        points /= np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)
    if len(points) >= MIN_TSNE:
        tsne = TSNE(
            n_components=2,
            perplexity=min(30.0, (len(points) - 1) / 3),
            init="pca",
            learning_rate="auto",
            random_state=seed,
            n_jobs=1,
        )
        xy, method = tsne.fit_transform(points), "t-SNE"
    else:
        xy, method = PCA(n_components=2, random_state=seed).fit_transform(points), "PCA"
    return EmbeddingMap(
        xy=xy,
        labels=np.concatenate([queries.labels[s_idx], shape_labels[t_idx]]),
        is_sketch=np.arange(len(points)) < len(s_idx),
        method=method,
        n_sketches=(len(s_idx), len(queries.labels)),
        n_shapes=(len(t_idx), len(shape_labels)),
    )


def class_colors(n: int) -> np.ndarray:
    """(n, 4) RGBA colours, one per class: tab10's up to 10 classes, tab20's up to 20 (its ten strong
    colours first, then their light partners), else spread over a rainbow."""
    if n <= 10:
        return plt.get_cmap("tab10")(np.arange(n))
    if n <= 20:
        return plt.get_cmap("tab20")(np.r_[0:20:2, 1:20:2][:n])
    # neighbouring labels far apart on the wheel, so that adjacent classes do not look alike
    return plt.get_cmap("hsv")((np.arange(n) * 0.381966) % 1.0 * 0.92)


def plot_embedding(points: EmbeddingMap, classes: Sequence[str], path: PathLike, *, title: str = "") -> None:
    """Shapes as filled circles, sketches as crosses, both coloured by class; a legend of both modalities and,
    up to LEGEND_UP_TO classes, of the classes."""
    colors = class_colors(max(len(classes), int(points.labels.max()) + 1))
    fig, ax = plt.subplots(figsize=(8.2, 6.6))
    shape, sketch = ~points.is_sketch, points.is_sketch
    ax.scatter(*points.xy[shape].T, s=26, c=colors[points.labels[shape]], marker="o", alpha=0.6,
               edgecolors="white", linewidths=0.4)  # fmt: skip
    ax.scatter(*points.xy[sketch].T, s=30, c=colors[points.labels[sketch]], marker="x", linewidths=1.3)
    handles = [
        Line2D([], [], ls="", marker="o", color="0.35", alpha=0.6, label="shape (target model)"),
        Line2D([], [], ls="", marker="x", color="0.1", mew=1.3, label="sketch (upright test query)"),
    ]
    if len(classes) <= LEGEND_UP_TO:
        handles += [
            Line2D([], [], ls="", marker="s", ms=7, color=colors[i], label=name)
            for i, name in enumerate(classes)
        ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(f"{points.method} 1")
    ax.set_ylabel(f"{points.method} 2")
    drawn = points.n_sketches[0] < points.n_sketches[1] or points.n_shapes[0] < points.n_shapes[1]
    what = (
        f"{points.method} of {_count(points.n_sketches, 'sketches')} and {_count(points.n_shapes, 'shapes')}"
        + (" (drawn at random)" if drawn else "")
    )
    ax.set_title(f"{title}\n{what}" if title else what, fontsize=10)
    save_figure(fig, path)


def _count(shown_of: tuple[int, int], what: str) -> str:
    """'120 sketches', or '1000 of 2700 sketches' for a subsample."""
    shown, of = shown_of
    return f"{shown} {what}" if shown == of else f"{shown} of {of} {what}"


__all__ = ["MAX_PER_MODALITY", "EmbeddingMap", "MapInputs", "embedding_map", "plot_embedding", "subsample"]
