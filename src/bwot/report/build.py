"""The `report` stage: the table with intervals and paired differences (markdown, CSV and an HTML page),
sweeps, PR curves, convergence, the retrieval gallery, and what helps to understand the result: per-class
mAP, class confusion, the worst queries and a map of the embedding space."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bwot.config import ReportConfig
from bwot.evaluation.metrics import METRICS
from bwot.evaluation.outputs import read_classes, read_ranking
from bwot.io import PathLike, write_csv, write_text
from bwot.report.embedding import MapInputs
from bwot.report.gallery import gallery_rows, plot_gallery
from bwot.report.html import markdown_html
from bwot.report.plots import mean_pr_curve, plot_convergence, plot_pr_curves, read_history
from bwot.report.provenance import dataset_counts, read_feature_devices, read_json, read_yaml, run_section
from bwot.report.stats import (
    N_BOOT,
    SweepRun,
    differences_markdown,
    intervals_frame,
    intervals_markdown,
    plot_sweep,
    run_bootstrap,
    sweep_table,
)
from bwot.report.tables import PAPER, metrics_table
from bwot.report.understanding import Understanding, understanding_section

log = logging.getLogger(__name__)


@dataclass
class LossFiles:
    """The evaluate and train_metric outputs of one loss, one file per seed (in the order of the seeds)."""

    metrics: list[PathLike]
    pr: list[PathLike]
    per_query: list[PathLike]
    history: list[PathLike]
    ranking: list[PathLike]

    @classmethod
    def split(cls, losses: Sequence[str], seeds: int, **flat: Sequence[PathLike]) -> dict[str, LossFiles]:
        """Loss-major flat lists (as the rule's inputs: every seed of the first loss, then the next) ->
        {loss: LossFiles}."""
        out = {}
        for kind, paths in flat.items():
            if len(paths) != len(losses) * seeds:
                raise ValueError(f"{len(paths)} {kind} files for {len(losses)} losses x {seeds} seeds")
        for i, loss in enumerate(losses):
            out[loss] = cls(**{k: list(v[i * seeds : (i + 1) * seeds]) for k, v in flat.items()})
        return out


def mean_metrics(paths: Sequence[PathLike]) -> dict[str, Any]:
    """metrics.json of several seeds -> the first one's fields with the six metrics averaged over seeds."""
    values = [read_json(p) for p in paths]
    out = dict(values[0])
    for m in METRICS:
        out[m] = float(np.mean([v[m] for v in values]))
    return out


def build_report(
    *,
    losses: Mapping[str, LossFiles],
    views: Sequence[PathLike],
    test_sketches: Sequence[PathLike],
    classes: PathLike,
    outputs: Mapping[str, PathLike],
    dataset: str,
    name: str | None = None,
    cfg: ReportConfig | Mapping[str, Any] | None = None,
    manifests: tuple[PathLike, PathLike] | None = None,
    backbones: Sequence[PathLike] = (),
    run_config: Mapping[str, Any] | None = None,
    paper_config: PathLike | None = None,
    sweep: Sequence[SweepRun] = (),
    sweep_base: Mapping[str, Any] | None = None,
    embedding: MapInputs | None = None,
    seed: int = 0,
    n_boot: int = N_BOOT,
) -> None:
    """Write every output of the report rule: table, html (metrics.md as a page), csv, intervals,
    differences, pr, pr_data, convergence, gallery, per_class (csv), per_class_figure, confusion, worst,
    with `embedding` (the gallery loss's first-seed metric model and the features) embedding (a 2-D map,
    t-SNE seeded with `seed`), and with sweeps sweep (csv) and sweep_figures (one PNG per swept key, in
    the config's order).

    Every number of metrics.md comes with its 95% interval over query sketches (and seeds; see
    bwot.evaluation.bootstrap), and every loss with its paired difference to the reference: `ot` (the
    paper's method) when it was trained, else the first loss. With `manifests` (models.csv, sketches.csv),
    metrics.md also says what the numbers were computed on:
    the dataset and its counts, what was skipped, the backbones' weights and devices (`backbones`: their
    summary JSON files) and, given the run's config and the dataset's paper config (`paper_config`,
    config/shrec13.yaml or shrec14.yaml), how the run differs from the paper's protocol. Its last
    section (bwot.report.understanding) has the per-class table and says how to read each figure of the
    gallery loss (report.gallery_loss, default the first).
    """
    cfg = ReportConfig.from_mapping(cfg or {})
    name = name or dataset
    names = list(losses)
    gallery_loss = cfg.gallery_loss or names[0]
    if gallery_loss not in losses:
        raise ValueError(f"report.gallery_loss {gallery_loss!r} is not one of metric.losses {names}")
    seeds = len(next(iter(losses.values())).metrics)
    values = {loss: mean_metrics(files.metrics) for loss, files in losses.items()}
    boot = run_bootstrap({loss: files.per_query for loss, files in losses.items()}, n_boot=n_boot)
    table = metrics_table(values, dataset)
    write_csv(outputs["csv"], table.reset_index())
    reference = "ot" if "ot" in names else names[0]
    intervals, differences = intervals_frame(boot, names, reference if len(names) > 1 else None)
    write_csv(outputs["intervals"], intervals)
    write_csv(outputs["differences"], differences)
    parts = [_title(values, dataset, name, seeds), intervals_markdown(boot, names, seeds, PAPER.get(dataset))]
    parts.append(_table_note(seeds, dataset))
    if len(names) > 1:
        parts += [f"## Paired differences to {reference}\n", differences_markdown(boot, names, reference)]
        parts.append(DIFFERENCES_NOTE)
    if sweep:
        own = {loss: files.per_query for loss, files in losses.items()}
        parts.append(_sweeps(sweep, sweep_base or {}, own, outputs, name, n_boot))
    if manifests is not None:
        parts.append(
            run_section(
                dataset=dataset,
                data_dir=(run_config or {}).get("data_dir"),
                counts=dataset_counts(*manifests),
                metrics=values,
                backbones=[read_json(p) for p in backbones],
                run_config=run_config,
                paper_config=read_yaml(paper_config) if paper_config else None,
                feature_devices=(
                    read_feature_devices({"shapes": embedding.shapes, "sketches": embedding.sketches})
                    if embedding is not None
                    else None
                ),
            )
        )
    log.info("results table:\n%s", table.round(3).to_string())

    curves = {loss: mean_pr_curve(files.pr) for loss, files in losses.items()}
    maps = {loss: v["mAP"] for loss, v in values.items()}
    plot_pr_curves(curves, outputs["pr"], maps=maps, title=f"Precision-recall: {name}")
    wide = pd.DataFrame({"recall": next(iter(curves.values()))["recall"]})
    for loss, curve in curves.items():
        wide[loss] = curve["precision"].to_numpy()
    write_csv(outputs["pr_data"], wide)

    histories = {loss: read_history(files.history[0]) for loss, files in losses.items()}
    plot_convergence(histories, outputs["convergence"], title=f"Metric training: {name}")

    ranking, class_names = read_ranking(losses[gallery_loss].ranking[0]), read_classes(classes)
    rows = gallery_rows(
        ranking, test_sketches, views, class_names, n_queries=cfg.gallery_queries, view=cfg.gallery_view
    )
    hits = sum(sum(r.correct) for r in rows)
    title = (
        f"{name}, {gallery_loss}: test sketches and their top {len(rows[0].images)} models "
        f"(green = same class, red = other; {hits}/{sum(len(r.correct) for r in rows)} correct)"
    )
    plot_gallery(rows, outputs["gallery"], title=title)

    data = Understanding(
        loss=gallery_loss,
        ranking=ranking,
        per_query=losses[gallery_loss].per_query[0],
        all_per_query={loss: files.per_query for loss, files in losses.items()},
        overall_map=values[gallery_loss]["mAP"],
        classes=class_names,
        views=views,
        test_sketches=test_sketches,
        view=cfg.gallery_view,
    )
    distance = str(values[gallery_loss].get("distance", "euclidean"))
    parts.append(
        understanding_section(
            data,
            outputs,
            name=name,
            seeds=seeds,
            n_worst=cfg.gallery_queries,
            embedding=embedding,
            seed=seed,
            distance=distance,
            n_boot=n_boot,
        )
    )
    markdown = "\n".join(parts)
    write_text(outputs["table"], markdown)
    write_text(outputs["html"], markdown_html(markdown, f"Retrieval results: {name}"))


DIFFERENCES_NOTE = (
    "Each cell: the mean difference over query sketches (and seeds), paired (both losses on the same "
    "resampled queries), with its 95% bootstrap interval; `n.s.`: the interval contains 0, the difference "
    "is not significant at the 5% level.\n"
)


def _title(values: Mapping[str, Mapping[str, Any]], dataset: str, name: str, seeds: int) -> str:
    first = next(iter(values.values()))
    info = (
        f"{first.get('n_queries', '?')} queries ({first.get('protocol', '?')} protocol) against "
        f"{first.get('n_targets', '?')} target models, {first.get('distance', '?')} distance"
        + (f"; {seeds} seeds of the metric stage." if seeds > 1 else ".")
    )
    title = f"Retrieval results: {name}" + (f" ({dataset})" if dataset != name else "")
    return f"# {title}\n\n{info}\n"


def _table_note(seeds: int, dataset: str) -> str:
    spread = " ± the standard deviation over seeds," if seeds > 1 else ""
    paper = (
        "\n`paper (OT)`: the numbers reported by Xu, Sun and Liu (CVPR 2019) for their OT loss.\n"
        if dataset in PAPER
        else ""
    )
    return (
        f"Each cell: the mean over query sketches{' and seeds' if seeds > 1 else ''},{spread} and its 95% "
        "interval from a bootstrap over the query sketches (stratified by class"
        + (", seeds drawn again too" if seeds > 1 else "")
        + "). A loss is in bold only when it is significantly better than every other (paired intervals "
        "that exclude 0). " + METRIC_NOTE + "\n" + paper
    )


METRIC_NOTE = (
    "NN: precision at rank 1; FT/ST: recall within the first C / 2C results (C = size of the query's "
    "class); E: F-measure of precision and recall over the first 32 results; DCG: normalised discounted "
    "cumulative gain; mAP: mean average precision."
)


def _sweeps(
    sweep: Sequence[SweepRun],
    base: Mapping[str, Any],
    own: Mapping[str, Sequence[PathLike]],
    outputs: Mapping[str, Any],
    name: str,
    n_boot: int,
) -> str:
    """sweep.csv, one figure per swept key, and the markdown section; each key's curves pass through the
    run's own value (`base`), whose per_query files (`own`, per loss) are the main table's."""
    keys = list(dict.fromkeys(run.key for run in sweep))
    at_base = [
        SweepRun(key, base[key], loss, list(own[loss]))
        for key in keys
        if key in base
        for loss in dict.fromkeys(run.loss for run in sweep if run.key == key)
    ]
    table = sweep_table(sweep, at_base, n_boot=n_boot)
    write_csv(outputs["sweep"], table)
    for key, path in zip(keys, outputs["sweep_figures"], strict=True):
        plot_sweep(table, key, path, base=base.get(key), title=f"{name}: sweep of {key}")
    lines = ["## Sweeps\n", "| key | value | loss | mAP [95% interval] |", "|:--|--:|:--|--:|"]
    for row in table.itertuples(index=False):
        value = f"{row.value} (the run)" if row.run else row.value
        lines.append(f"| {row.key} | {value} | {row.loss} | {row.mean:.3f} [{row.low:.2f}, {row.high:.2f}] |")
    lines.append(
        "\nOne key changed at a time; `(the run)`: the run's own value, the main table's models. sweep.csv "
        "has every point, sweep-<key>.png the curves.\n"
    )
    return "\n".join(lines)
