"""The `evaluate` stage: embed test sketches and target shapes with a trained metric, rank, score, write.

Inputs are the feature files of docs/features.md (sketches: `features` (n, R, D), `ids`, `labels`, `splits`;
shapes: `pooled` (n, D), `ids`, `labels`) and a metric model with `embed_sketches` / `embed_shapes`.
Query protocol: `upright` = rotation 0 of every test sketch (SHREC); `all_rotations` = every rotated copy
is a query (the original code), named `<id>_r<k>`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from bwot.blocks import BLOCK, fixed_blocks
from bwot.config import EvaluateConfig
from bwot.evaluation.inventory import Inventory
from bwot.evaluation.metrics import (
    NoRelevantTargetsError,
    QueryMetrics,
    per_class_table,
    per_query_metrics,
    pr_recall_levels,
)
from bwot.evaluation.ranklists import write_ranklists
from bwot.io import PathLike, atomic_path, open_h5, read_strings, write_csv, write_json

log = logging.getLogger(__name__)
PROTOCOLS = ("upright", "all_rotations")
DISTANCES = ("euclidean", "cosine")
TOPK = 10


class Embedder(Protocol):
    """What evaluate needs of a metric model (bwot.metric.MetricModel has these)."""

    def embed_sketches(self, x: np.ndarray) -> np.ndarray: ...
    def embed_shapes(self, x: np.ndarray) -> np.ndarray: ...


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


class DistanceMatrix:
    """Query x target distances, computed a block of rows at a time when sliced (`d[lo:hi]`).

    Euclidean, or cosine (1 - cosine similarity); float64 arithmetic (||a||^2 + ||b||^2 - 2ab, clipped
    at 0), float32 results. Never held whole: all_rotations on SHREC14 would be 102600 x 8987 (3.7 GB).
    Rows are computed in blocks of exactly `block` query rows (bwot.blocks, the last padded): a row's
    distances are the same bits whether its query is ranked alone (`bwot query`) or with all the others.
    With `columns` (the column of each embedded target in a list of `width` targets), the targets that
    have no embedding (skipped upstream) get distance +inf: ranked last, in list order (stable sort).
    """

    def __init__(
        self,
        queries: np.ndarray,
        targets: np.ndarray,
        kind: str = "euclidean",
        block: int = BLOCK,
        *,
        columns: np.ndarray | None = None,
        width: int | None = None,
    ):
        if kind not in DISTANCES:
            raise ValueError(f"unknown distance {kind!r} (expected one of {', '.join(DISTANCES)})")
        self.kind, self.block = kind, block
        self.columns = None if columns is None or len(columns) == width else np.asarray(columns)
        self.a = np.asarray(queries, np.float64)
        self.b = np.asarray(targets, np.float64)
        if kind == "cosine":
            self.a = self.a / np.maximum(np.linalg.norm(self.a, axis=1, keepdims=True), 1e-12)
            self.b = self.b / np.maximum(np.linalg.norm(self.b, axis=1, keepdims=True), 1e-12)
        self.bb = (self.b**2).sum(axis=1)
        self.shape = (len(self.a), len(self.b) if self.columns is None else int(width))
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: Any) -> np.ndarray:
        """Rows selected by a slice, an index array or an int (then one 1-D row)."""
        index = np.arange(self.shape[0])[rows]
        if np.ndim(index) == 0:
            return self[[int(index)]][0]
        out = np.empty((len(index), self.shape[1]), dtype=np.float32)
        for lo, n, a in fixed_blocks(self.a[index], self.block):
            if self.kind == "cosine":
                d = 1.0 - a @ self.b.T
            else:
                d = np.sqrt(
                    np.maximum((a**2).sum(axis=1)[:, None] + self.bb[None, :] - 2.0 * a @ self.b.T, 0.0)
                )
            if self.columns is None:
                out[lo : lo + n] = d[:n]
            else:
                out[lo : lo + n] = np.inf
                out[lo : lo + n, self.columns] = d[:n]
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype)


def pairwise_distances(a: np.ndarray, b: np.ndarray, kind: str = "euclidean") -> np.ndarray:
    """The whole (len(a), len(b)) float32 distance matrix (see DistanceMatrix)."""
    return DistanceMatrix(a, b, kind)[:]


def evaluate(
    model: Embedder,
    sketches_h5: PathLike,
    shapes_h5: PathLike,
    *,
    protocol: str = "upright",
    distance: str = "euclidean",
    chunk_size: int = 256,
    inventory: Inventory | None = None,
) -> Evaluation:
    """Embed, rank and score: the whole evaluation of one metric model.

    With an `inventory` (the manifests and skip reports) every target of the models manifest is ranked:
    those skipped upstream last (inventory.py), and every test sketch must be a query or skipped.
    Without one, the targets are those of the shape features.
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
    q = per_query_metrics(d, queries.labels, target_labels, chunk_size=chunk_size, topk=TOPK)
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


def write_outputs(
    result: Evaluation,
    *,
    metrics_json: PathLike,
    pr_csv: PathLike,
    per_class_csv: PathLike,
    ranking_npz: PathLike,
    per_query_csv: PathLike | None = None,
    classes: list[str] | None = None,
    ranklists_dir: PathLike | None = None,
) -> None:
    """metrics.json, pr.csv, per_class.csv, ranking.npz, per_query.csv (what the confidence intervals
    resample) and (optionally) the SHREC rank lists."""
    write_json(metrics_json, result.summary())
    if per_query_csv is not None:
        write_csv(per_query_csv, per_query_table(result))
    pr = pd.DataFrame({"recall": pr_recall_levels(), "precision": result.metrics.pr.mean(axis=0)})
    write_csv(pr_csv, pr)
    table = per_class_table(result.metrics, result.queries.labels, result.target_labels, classes)
    write_csv(per_class_csv, table)
    write_ranking(ranking_npz, result)
    if ranklists_dir is not None:
        write_ranklists(ranklists_dir, list(result.queries.ids), list(result.target_ids), result.distances)
        log.info("wrote %d rank lists to %s", len(result.queries.ids), ranklists_dir)


def per_query_table(result: Evaluation) -> pd.DataFrame:
    """One row per query: its name, sketch, rotation, label and the six metrics (AP for mAP)."""
    q, m = result.queries, result.metrics
    table = pd.DataFrame({"query": q.ids, "sketch": q.sketch_ids, "rotation": q.rotations, "label": q.labels})
    for name, values in (("NN", m.NN), ("FT", m.FT), ("ST", m.ST), ("E", m.E), ("DCG", m.DCG), ("mAP", m.AP)):
        table[name] = values
    return table


def write_ranking(path: PathLike, result: Evaluation) -> None:
    """ranking.npz: ids and labels of both sides, and the top-10 targets (indices, distances) per query."""
    topk, topk_dist = result.metrics.topk, result.metrics.topk_dist
    if topk is None or topk_dist is None:
        raise ValueError("write_ranking needs metrics computed with topk > 0")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(
            f,
            query_ids=result.queries.ids.astype(str),
            query_sketch_ids=result.queries.sketch_ids.astype(str),
            query_rotations=result.queries.rotations.astype(np.int32),
            query_labels=result.queries.labels,
            target_ids=result.target_ids.astype(str),
            target_labels=result.target_labels,
            topk=topk,
            topk_dist=topk_dist,
        )


def read_ranking(path: PathLike) -> dict[str, np.ndarray]:
    """ranking.npz as a dict of arrays."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def read_classes(path: PathLike | None) -> list[str] | None:
    """classes.txt (one name per line, label order), or None."""
    if path is None:
        return None
    return [line for line in Path(path).read_text().splitlines() if line]


def evaluate_files(
    model_path: PathLike,
    sketches_h5: PathLike,
    shapes_h5: PathLike,
    outputs: dict[str, PathLike],
    cfg: EvaluateConfig | Mapping[str, Any],
    *,
    classes_txt: PathLike | None = None,
    ranklists_dir: PathLike | None = None,
    loader: Any = None,
    inventory: Inventory | None = None,
) -> Evaluation:
    """The rule's work: load the model (via bwot.metric.load_metric_model unless `loader` is given),
    evaluate, write `outputs` (keys metrics, pr, per_class, ranking). Rank lists when `cfg.ranklists`.
    `inventory`: rank every target of the manifest (see `evaluate`). metrics.json also records the
    model's own metadata (`model`: loss, steps, seed, device, ...)."""
    cfg = EvaluateConfig.from_mapping(cfg)
    if loader is None:
        from bwot.metric import load_metric_model as loader
    model = loader(str(model_path), device="cpu")
    result = evaluate(
        model,
        sketches_h5,
        shapes_h5,
        protocol=cfg.protocol,
        distance=cfg.distance,
        chunk_size=cfg.chunk_size,
        inventory=inventory,
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


__all__ = ["Evaluation", "evaluate", "evaluate_files", "read_ranking", "write_outputs"]
