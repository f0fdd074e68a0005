"""The `evaluate` stage: embed test sketches and target shapes with a trained metric, rank, score, write.

Inputs are the feature files of docs/features.md (sketches: `features` (n, R, D), `ids`, `labels`, `splits`;
shapes: `pooled` (n, D), `ids`, `labels`) and a metric model with `embed_sketches` / `embed_shapes`.
Query protocol: `upright` = rotation 0 of every test sketch (SHREC); `all_rotations` = every rotated copy
is a query (the original code), named `<id>_r<k>`. `pr_rule` and `ap`: how the PR curve and AP are computed
(bwot.evaluation.metrics).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from bwot.config import EvaluateConfig
from bwot.evaluation.distances import DistanceMatrix
from bwot.evaluation.inventory import Inventory
from bwot.evaluation.metrics import (
    NoRelevantTargetsError,
    QueryMetrics,
    per_query_metrics,
)
from bwot.evaluation.outputs import read_classes, write_outputs
from bwot.io import PathLike, open_h5, read_strings

log = logging.getLogger(__name__)
PROTOCOLS = ("upright", "all_rotations")
TOPK = 10


class Embedder(Protocol):
    """What evaluate needs of a metric model (bwot.metric.MetricModel has these)."""

    def embed_sketches(self, x: np.ndarray) -> np.ndarray: ...
    def embed_shapes(self, x: np.ndarray) -> np.ndarray: ...


class ModelLoader(Protocol):
    """Loads a metric model from its file (bwot.metric.load_metric_model)."""

    def __call__(self, path: str, *, device: str) -> Embedder: ...


@dataclass
class Queries:
    """The query side: one row per query."""

    ids: np.ndarray  # query names (sketch id, or <id>_r<k> for all_rotations)
    sketch_ids: np.ndarray
    rotations: np.ndarray
    labels: np.ndarray
    embeddings: np.ndarray


@dataclass
class Evaluation:
    """Everything evaluate computed: queries, targets, distances and per-query metrics."""

    queries: Queries
    target_ids: np.ndarray
    target_labels: np.ndarray
    distances: DistanceMatrix  # (n_queries, n_targets), rows computed when sliced
    metrics: QueryMetrics
    protocol: str
    distance: str
    skipped: dict[str, list[dict[str, str]]] = field(default_factory=lambda: {"targets": [], "queries": []})
    model: dict[str, Any] = field(default_factory=dict)  # the metric model's metadata (loss, steps, ...)

    def summary(self) -> dict[str, Any]:
        """metrics.json: the six metrics, what they were computed on, and what was skipped upstream."""
        return self.metrics.means() | {
            "n_queries": len(self.queries.ids),
            "n_targets": len(self.target_ids),
            "n_targets_skipped": len(self.skipped["targets"]),
            "n_queries_skipped": len(self.skipped["queries"]),
            "protocol": self.protocol,
            "distance": self.distance,
            "pr_rule": self.metrics.pr_rule,
            "ap": self.metrics.ap,
            "skipped": self.skipped,
            "model": self.model,
        }


def embed_queries(model: Embedder, sketches_h5: PathLike, protocol: str) -> Queries:
    """Embed the test sketches of a sketch feature file under a query protocol."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r} (expected one of {', '.join(PROTOCOLS)})")
    with open_h5(sketches_h5) as f:
        for key in ("features", "ids", "labels", "splits"):
            if key not in f:
                raise ValueError(f"{sketches_h5}: no dataset '{key}' (a sketch feature file needs it)")
        splits = read_strings(f["splits"])
        index = np.flatnonzero(splits == "test")
        if len(index) == 0:
            raise ValueError(f"{sketches_h5}: no test sketches (splits holds {sorted(set(splits))})")
        ids = read_strings(f["ids"])[index]
        labels = f["labels"][()][index].astype(np.int64)
        n_rot = f["features"].shape[1]
        rotations = [0] if protocol == "upright" else list(range(n_rot))
        # one rotation at a time: all_rotations on SHREC14 would otherwise read ~1.7 GB at once
        per_rot = [_as_f32(model.embed_sketches(f["features"][index, r, :])) for r in rotations]
    emb = np.stack(per_rot, axis=1).reshape(len(index) * len(rotations), -1)  # sketch-major
    rot = np.tile(np.array(rotations), len(index))
    sketch_ids = np.repeat(ids, len(rotations))
    names = (
        sketch_ids
        if protocol == "upright"
        else np.array([f"{s}_r{r}" for s, r in zip(sketch_ids, rot, strict=True)])
    )
    return Queries(names, sketch_ids, rot, np.repeat(labels, len(rotations)), emb)


def embed_targets(model: Embedder, shapes_h5: PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, labels, embeddings) of every target shape (its `pooled` feature, max over views)."""
    with open_h5(shapes_h5) as f:
        for key in ("pooled", "ids", "labels"):
            if key not in f:
                raise ValueError(f"{shapes_h5}: no dataset '{key}' (a shape feature file needs it)")
        ids = read_strings(f["ids"])
        labels = f["labels"][()].astype(np.int64)
        emb = _as_f32(model.embed_shapes(f["pooled"][()]))
    if len(ids) == 0:
        raise ValueError(f"{shapes_h5}: no target shapes")
    return ids, labels, emb


def _as_f32(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def evaluate(
    model: Embedder,
    sketches_h5: PathLike,
    shapes_h5: PathLike,
    *,
    protocol: str = "upright",
    distance: str = "euclidean",
    chunk_size: int = 256,
    inventory: Inventory | None = None,
    pr_rule: str = "shrec",
    ap: str = "class_size",
) -> Evaluation:
    """Embed, rank and score: the whole evaluation of one metric model.

    With an `inventory` (the manifests and skip reports) every target of the models manifest is ranked:
    those skipped upstream last (inventory.py), and every test sketch must be a query or skipped.
    Without one, the targets are those of the shape features. `pr_rule`, `ap`: bwot.evaluation.metrics.
    """
    queries = embed_queries(model, sketches_h5, protocol)
    target_ids, target_labels, targets = embed_targets(model, shapes_h5)
    if queries.embeddings.shape[1] != targets.shape[1]:
        raise ValueError(
            f"sketch embeddings are {queries.embeddings.shape[1]}-d but shape embeddings "
            f"{targets.shape[1]}-d ({sketches_h5}, {shapes_h5})"
        )
    columns, skipped = None, {"targets": [], "queries": []}
    if inventory is not None:
        columns = inventory.target_columns(target_ids, target_labels, str(shapes_h5))
        inventory.check_queries(np.unique(queries.sketch_ids), str(sketches_h5))
        target_ids = inventory.targets["id"].to_numpy().astype(str)
        target_labels = inventory.targets["label"].to_numpy().astype(np.int64)
        skipped = inventory.skipped()
    _check_classes(queries, target_labels, sketches_h5, shapes_h5)
    d = DistanceMatrix(queries.embeddings, targets, distance, columns=columns, width=len(target_ids))
    q = per_query_metrics(
        d, queries.labels, target_labels, chunk_size=chunk_size, topk=TOPK, pr_rule=pr_rule, ap=ap
    )
    log.info(
        "%d queries (%s) x %d targets (%s): %s",
        len(queries.ids),
        protocol,
        len(target_ids),
        distance,
        " ".join(f"{k}={v:.3f}" for k, v in q.means().items()),
    )
    if skipped["targets"] or skipped["queries"]:
        log.warning(
            "%d skipped target(s) ranked last for every query; %d skipped test sketch(es) not queried",
            len(skipped["targets"]),
            len(skipped["queries"]),
        )
    return Evaluation(queries, target_ids, target_labels, d, q, protocol, distance, skipped)


def _check_classes(queries: Queries, target_labels: np.ndarray, sketches_h5, shapes_h5) -> None:
    """Every query class must have targets: else the error names the classes and the queries."""
    missing = np.setdiff1d(np.unique(queries.labels), np.unique(target_labels))
    if len(missing):
        bad = queries.sketch_ids[np.isin(queries.labels, missing)]
        bad = np.unique(bad)
        raise NoRelevantTargetsError(
            f"test sketches of classes with no target shape in {shapes_h5} (from {sketches_h5}): "
            f"labels {missing.tolist()}; {len(bad)} sketches: {bad[:50].tolist()}"
            + (" ..." if len(bad) > 50 else "")
        )


def evaluate_files(
    model_path: PathLike,
    sketches_h5: PathLike,
    shapes_h5: PathLike,
    outputs: dict[str, PathLike],
    cfg: EvaluateConfig | Mapping[str, Any],
    *,
    classes_txt: PathLike | None = None,
    ranklists_dir: PathLike | None = None,
    loader: ModelLoader,
    inventory: Inventory | None = None,
) -> Evaluation:
    """The rule's work: load the model with `loader` (bwot.metric.load_metric_model: the caller passes it,
    so that this stage does not depend on the metric stage), evaluate, write `outputs` (keys metrics, pr,
    per_class, ranking). Rank lists when `cfg.ranklists`. `inventory`: rank every target of the manifest
    (see `evaluate`). metrics.json also records the model's own metadata (`model`: loss, steps, seed,
    device, ...)."""
    cfg = EvaluateConfig.from_mapping(cfg)
    model = loader(str(model_path), device="cpu")
    result = evaluate(
        model,
        sketches_h5,
        shapes_h5,
        protocol=cfg.protocol,
        distance=cfg.distance,
        chunk_size=cfg.chunk_size,
        inventory=inventory,
        pr_rule=cfg.pr_rule,
        ap=cfg.ap,
    )
    result.model = dict(getattr(model, "meta", {}) or {})
    write_outputs(
        result,
        metrics_json=outputs["metrics"],
        pr_csv=outputs["pr"],
        per_class_csv=outputs["per_class"],
        ranking_npz=outputs["ranking"],
        per_query_csv=outputs.get("per_query"),
        classes=read_classes(classes_txt),
        ranklists_dir=ranklists_dir if cfg.ranklists else None,
    )
    return result


__all__ = ["PROTOCOLS", "Embedder", "Evaluation", "ModelLoader", "Queries", "evaluate", "evaluate_files"]
