"""Understanding a result: per-class mAP with intervals (table and bars), the class confusion of the top 10,
the worst queries as a gallery, and a 2-D map of the joint embedding space; each figure with a caption in
metrics.md that says how to read it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from bwot.evaluation.evaluate import TOPK
from bwot.io import PathLike, write_csv
from bwot.report.classes import class_confusion, plot_confusion, plot_per_class
from bwot.report.embedding import MAX_PER_MODALITY, MapInputs, embedding_map, plot_embedding
from bwot.report.gallery import gallery_rows, plot_gallery, worst_queries
from bwot.report.stats import N_BOOT, per_class_intervals, per_class_markdown


@dataclass
class Understanding:
    """What the figures are made of: the gallery loss's files (its first seed's ranking and per_query.csv),
    every loss's per_query.csv (one per seed), and the images and class names."""

    loss: str
    ranking: dict
    per_query: PathLike  # the gallery loss's first seed
    all_per_query: Mapping[str, Sequence[PathLike]]
    overall_map: float  # the gallery loss's mAP (mean over seeds)
    classes: list[str]
    views: Sequence[PathLike]
    test_sketches: Sequence[PathLike]
    view: int = 0


def understanding_section(
    data: Understanding,
    outputs: Mapping[str, PathLike],
    *,
    name: str,
    seeds: int,
    n_worst: int,
    embedding: MapInputs | None = None,
    seed: int = 0,
    distance: str = "euclidean",
    n_boot: int = N_BOOT,
) -> str:
    """Write per_class (csv), per_class_figure, confusion, worst and, given its inputs, embedding; return
    the markdown section of metrics.md that shows the per-class table and says how to read each figure."""
    loss, seeded = data.loss, " (first seed)" if seeds > 1 else ""
    table = per_class_intervals(data.all_per_query, data.classes, n_boot=n_boot)
    write_csv(outputs["per_class"], table)
    plot_per_class(
        table,
        loss,
        outputs["per_class_figure"],
        overall=data.overall_map,
        title=f"{name}, {loss}: mAP per class",
    )
    matrix, _ = class_confusion(data.ranking, len(data.classes), TOPK)
    title = f"{name}, {loss}{seeded}: classes of the top {TOPK} models of each query class"
    plot_confusion(matrix, data.classes, outputs["confusion"], k=TOPK, title=title)

    per_query = pd.read_csv(data.per_query, dtype={"query": str, "sketch": str})
    worst = worst_queries(per_query, data.ranking, n_worst)
    rows = gallery_rows(
        data.ranking,
        data.test_sketches,
        data.views,
        data.classes,
        view=data.view,
        rows=worst["row"].tolist(),
        notes=[f"AP {ap:.2f}" for ap in worst["mAP"]],
    )
    title = (
        f"{name}, {loss}{seeded}: the {len(rows)} test sketches of lowest AP, lowest first, and their top "
        f"{TOPK} models (green = same class, red = other)"
    )
    plot_gallery(rows, outputs["worst"], title=title)

    and_seeds = " and seeds" if seeds > 1 else ""
    parts = [
        "## Per class\n",
        f"mAP of each query class: the mean AP over the class's query sketches{and_seeds}, with its 95% "
        "interval from the same bootstrap as the table above, within the class (its sketches drawn again, "
        f"with replacement{', and the seeds' if seeds > 1 else ''}); `per_class_map.csv` has every number.\n",
        per_class_markdown(table, seeds),
        f"![mAP per class of {loss}](per_class_map.png)\n",
        f"*How to read it*: one bar per query class (in brackets: its number of query sketches) for {loss}, "
        "best class at the top; the black line is the 95% interval, the dotted line the mAP over all "
        "queries. A class whose interval lies wholly left of the dotted line is harder than the average "
        "query; a wide interval (few sketches, or AP that varies much between them) says the class's value "
        "is uncertain.\n",
        "## Where it goes wrong\n",
        f"![Class confusion of the top {TOPK} models of {loss}](confusion.png)\n",
        f"*How to read it*: a row per class of query sketch, a column per class of model ({loss}{seeded}, "
        f"every query). A row is split between the classes of its queries' top-{TOPK} retrieved models "
        "(it sums to 1): the diagonal cell is the class's precision at 10 (dark = right), a dark cell off "
        "the diagonal is a class it is mistaken for. The colour scale is a square root, so that small "
        "shares stay visible. Classes are in label order (classes.txt); a grey row: a class without query "
        "sketches.\n",
        f"![The {len(rows)} worst queries of {loss}](worst_queries.png)\n",
        f"*How to read it*: the {len(rows)} upright test sketches of lowest AP under {loss}{seeded} "
        "(`per_query.csv`'s `mAP` column), lowest first, each with its class above it, its AP and the "
        f"number of right models among its top {TOPK} at the left, then those {TOPK} models nearest first "
        "(green frame = the sketch's class; red = another class, named above it). Look for what the "
        "failures share: a class they are taken for, an unusual drawing, a view of the model that the "
        "sketch does not resemble.\n",
    ]
    if embedding is not None:
        points = embedding_map(embedding, seed=seed, distance=distance)
        plot_embedding(
            points, data.classes, outputs["embedding"], title=f"{name}, {loss}{seeded}: joint embedding"
        )
        parts += [
            "## The joint embedding space\n",
            f"![2-D map of the {loss} embedding](embedding.png)\n",
            "*How to read it*: the upright test sketches (crosses) and the target shapes (circles), "
            f"embedded by the {loss} metric{seeded} as evaluate embeds them, placed in 2-D by "
            f"{_method(points.method, seed)}; colour = class. Sketches among the shapes of their own "
            "colour are retrieved well; sketches "
            "of one colour beside shapes of another are a confusion (compare the confusion above); sketches "
            "and shapes in separate islands are modalities the metric has not brought together. "
            + (
                "t-SNE keeps who is near whom, not distances: the sizes of the clusters and the gaps "
                "between them mean little. "
                if points.method == "t-SNE"
                else ""
            )
            + f"At most {MAX_PER_MODALITY} points of each modality are drawn (at random, with the run's "
            "seed) when it has more; the figure's title gives the counts.\n",
        ]
    return "\n".join(parts)


def _method(method: str, seed: int) -> str:
    if method == "t-SNE":
        return f"t-SNE (scikit-learn, random_state {seed}, the run's seed)"
    return "PCA (too few points for t-SNE)"


__all__ = ["Understanding", "understanding_section"]
