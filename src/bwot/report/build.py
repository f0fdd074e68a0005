"""The `report` stage: the table (markdown + CSV), PR curves, convergence and the retrieval gallery."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from bwot.config import ReportConfig
from bwot.evaluation.evaluate import read_classes, read_ranking
from bwot.io import PathLike, write_csv, write_text
from bwot.report.gallery import gallery_rows, plot_gallery
from bwot.report.plots import plot_convergence, plot_pr_curves, read_history
from bwot.report.provenance import dataset_counts, read_json, read_yaml, run_section
from bwot.report.tables import metrics_markdown, metrics_table, read_metrics

log = logging.getLogger(__name__)


def _by_loss(losses: Sequence[str], paths: Sequence[PathLike], what: str) -> dict[str, PathLike]:
    if len(losses) != len(paths):
        raise ValueError(f"{len(paths)} {what} files for {len(losses)} losses ({list(losses)})")
    return dict(zip(losses, paths, strict=True))


def write_tables(
    metrics: Mapping[str, Mapping[str, Any]],
    dataset: str,
    name: str,
    md_path: PathLike,
    csv_path: PathLike,
    run: str = "",
) -> pd.DataFrame:
    """metrics.md (with the `run` section, markdown) and metrics.csv; returns the table."""
    table = metrics_table(metrics, dataset)
    first = next(iter(metrics.values()))
    info = (
        f"{first.get('n_queries', '?')} queries ({first.get('protocol', '?')} protocol) against "
        f"{first.get('n_targets', '?')} target models, {first.get('distance', '?')} distance."
    )
    title = f"Retrieval results: {name}" + (f" ({dataset})" if dataset != name else "")
    write_text(md_path, metrics_markdown(table, list(metrics), title, info) + ("\n" + run if run else ""))
    write_csv(csv_path, table.reset_index())
    return table


def build_report(
    *,
    losses: Sequence[str],
    metrics: Sequence[PathLike],
    pr: Sequence[PathLike],
    ranking: Sequence[PathLike],
    history: Sequence[PathLike],
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
) -> None:
    """Write every output of the report rule (keys: table, csv, pr, pr_data, convergence, gallery).

    With `manifests` (models.csv, sketches.csv), metrics.md also says what the numbers were computed on:
    the dataset and its counts, what was skipped, the backbones' weights and devices (`backbones`: their
    summary JSON files) and, given the run's config and the dataset's paper config (`paper_config`,
    config/shrec13.yaml or shrec14.yaml), how the run differs from the paper's protocol.
    """
    cfg = ReportConfig.from_mapping(cfg or {})
    name = name or dataset
    values = read_metrics(_by_loss(losses, metrics, "metrics"))
    run = ""
    if manifests is not None:
        run = run_section(
            dataset=dataset,
            data_dir=(run_config or {}).get("data_dir"),
            counts=dataset_counts(*manifests),
            metrics=values,
            backbones=[read_json(p) for p in backbones],
            run_config=run_config,
            paper_config=read_yaml(paper_config) if paper_config else None,
        )
    table = write_tables(values, dataset, name, outputs["table"], outputs["csv"], run)
    log.info("results table:\n%s", table.round(3).to_string())

    curves = {loss: pd.read_csv(p) for loss, p in _by_loss(losses, pr, "pr").items()}
    maps = {loss: v["mAP"] for loss, v in values.items()}
    plot_pr_curves(curves, outputs["pr"], maps=maps, title=f"Precision-recall: {name}")
    if "pr_data" in outputs:
        wide = pd.DataFrame({"recall": next(iter(curves.values()))["recall"]})
        for loss, curve in curves.items():
            wide[loss] = curve["precision"].to_numpy()
        write_csv(outputs["pr_data"], wide)

    histories = {loss: read_history(p) for loss, p in _by_loss(losses, history, "history").items()}
    plot_convergence(histories, outputs["convergence"], title=f"Metric training: {name}")

    gallery_loss = cfg.gallery_loss or losses[0]
    if gallery_loss not in losses:
        raise ValueError(f"report.gallery_loss {gallery_loss!r} is not one of metric.losses {list(losses)}")
    rank = read_ranking(dict(zip(losses, ranking, strict=True))[gallery_loss])
    rows = gallery_rows(
        rank,
        test_sketches,
        views,
        read_classes(classes),
        n_queries=cfg.gallery_queries,
        view=cfg.gallery_view,
    )
    hits = sum(sum(r.correct) for r in rows)
    title = (
        f"{name}, {gallery_loss}: test sketches and their top {len(rows[0].images)} models "
        f"(green = same class, red = other; {hits}/{sum(len(r.correct) for r in rows)} correct)"
    )
    plot_gallery(rows, outputs["gallery"], title=title)
