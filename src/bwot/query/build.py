"""Build a run's retrieval index (`results/<name>/index/<loss>.h5`, the rule `retrieval_index`): the
targets embedded by the trained shape network as `evaluate` embeds them, in the manifest's order, with
their thumbnails, the preprocessing, the distance and the model files' checksums (the format:
bwot.query.index, which reads it without the manifest and evaluation code imported here)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bwot.config import SketchesConfig
from bwot.datasets.manifest import read_manifest
from bwot.evaluation.distances import DISTANCES
from bwot.evaluation.evaluate import embed_targets
from bwot.evaluation.inventory import Inventory
from bwot.evaluation.outputs import read_classes
from bwot.io import PathLike, h5_writer, read_shard_images, set_attrs, write_strings
from bwot.metric import load_metric_model
from bwot.query.ann import HnswGraph, choose_backend
from bwot.query.index import FORMAT, THUMBNAIL, sha256, thumbnail, write_graph
from bwot.shards import read_skip_reports

log = logging.getLogger(__name__)


def build_index(
    out: PathLike,
    *,
    metric_model: PathLike,
    backbone: PathLike,
    shapes: PathLike,
    views: Sequence[PathLike],
    models_csv: PathLike,
    classes_txt: PathLike,
    skipped_targets: Sequence[PathLike] = (),
    sketches: SketchesConfig | Mapping[str, Any],
    distance: str = "euclidean",
    view: int = 0,
    seed: int | None = None,
) -> dict[str, Any]:
    """Embed the targets of `shapes` with the shape network of `metric_model` (as `evaluate` does), check
    them against the models manifest and the skip reports (as `evaluate` does), take one thumbnail each
    from the views shards, and write the index atomically; return a summary."""
    if distance not in DISTANCES:
        raise ValueError(f"unknown distance {distance!r} (expected one of {', '.join(DISTANCES)})")
    sketches = SketchesConfig.from_mapping(sketches)
    model = load_metric_model(metric_model, device="cpu")
    ids, labels, embeddings = embed_targets(model, shapes)
    targets = read_manifest(models_csv)
    skips = read_skip_reports(skipped_targets)
    inventory = Inventory(targets, targets.iloc[:0], skips, skips.iloc[:0])  # the targets' side only
    columns = inventory.target_columns(ids, labels, str(shapes))
    order = np.argsort(columns, kind="stable")  # manifest order: evaluate's tie order
    ids, labels, embeddings = ids[order], labels[order], embeddings[order]
    classes = read_classes(classes_txt) or []
    if len(classes) <= labels.max(initial=-1):
        raise ValueError(f"{classes_txt}: {len(classes)} class names, but labels go up to {labels.max()}")
    thumbs = read_shard_images(views, list(ids), view, transform=thumbnail)
    skipped = targets["id"][~targets["id"].isin(ids)].to_numpy().astype(str)  # manifest order
    out = Path(out)
    with h5_writer(out) as f:
        f.create_dataset("embeddings", data=embeddings.astype(np.float32))
        write_strings(f, "ids", ids)
        f.create_dataset("labels", data=labels.astype(np.int64))
        write_strings(f, "classes", classes)
        write_strings(f, "skipped_ids", skipped)
        f.create_dataset(
            "thumbnails",
            data=np.stack([thumbs[tid] for tid in ids]),
            chunks=(1, THUMBNAIL, THUMBNAIL),
            compression="gzip",
        )
        set_attrs(
            f,
            {
                "format": FORMAT,
                "loss": str(model.meta.get("loss", "")),
                "seed": -1 if seed is None else int(seed),
                "distance": distance,
                "sketches": json.dumps(sketches.as_dict()),
                "view": int(view),
                "n_targets": len(targets),
                "n_skipped": len(skipped),
                "backbone": os.path.relpath(backbone, out.parent),
                "backbone_sha256": sha256(backbone),
                "metric_model": os.path.relpath(metric_model, out.parent),
                "metric_model_sha256": sha256(metric_model),
            },
        )
        if choose_backend("auto", len(ids)) == "hnsw":
            write_graph(f, HnswGraph.build(embeddings, distance))
    summary = {"targets": len(ids), "skipped": len(skipped), "dim": int(embeddings.shape[1])}
    log.info("%s: %s", out, summary)
    return summary
