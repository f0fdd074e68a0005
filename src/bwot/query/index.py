"""The retrieval index of a run and loss (`results/<name>/index/<loss>.h5`), written once after training.

It holds what a query needs so that the targets are never embedded again: the target models embedded
by the trained shape network (from `features/shapes.h5` `pooled`, by the very call `evaluate` makes),
their ids, labels and class names, one thumbnail each (rendered view `report.gallery_view`, 96 px), and
what makes a query rank exactly as `evaluate` does: the run's `sketches:` section (the preprocessing),
the distance (`evaluate.distance`) and the two model files the sketch side goes through, by path
relative to the index and SHA-256 (a retrained model with a stale index is refused, not used).

Datasets: `embeddings` (n, out_dim) float32, `ids` (n,) str, `labels` (n,) int64, `classes` (classes,)
str (name of each label), `thumbnails` (n, 96, 96) uint8, `skipped_ids` (targets skipped upstream: no
views, no embedding; `evaluate` ranks them last, a query never returns them). Rows are in the models
manifest's order (the order `evaluate` breaks ties in). Attributes: `format`, `loss`, `seed`,
`distance`, `sketches` (JSON), `backbone` and `metric_model` (relative paths), `backbone_sha256`,
`metric_model_sha256`, `view`, `n_targets` (the manifest's), `n_skipped`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bwot.config import SketchesConfig
from bwot.datasets.manifest import read_manifest
from bwot.evaluation.evaluate import DISTANCES, embed_targets, read_classes
from bwot.evaluation.inventory import Inventory
from bwot.io import PathLike, h5_writer, open_h5, read_strings, set_attrs, write_strings
from bwot.report.gallery import read_shard_images
from bwot.shards import read_skip_reports

log = logging.getLogger(__name__)
FORMAT = "bwot-index-v1"
THUMBNAIL = 96  # pixels, square
MODEL_FILES = ("backbone", "metric_model")  # the sketch side of a query: CNN, then metric network


@dataclass(frozen=True)
class RetrievalIndex:
    """An index file, read: the embedded targets in memory, thumbnails read from the file on demand."""

    path: Path
    embeddings: np.ndarray  # (n, out_dim) float32
    ids: np.ndarray  # (n,) str
    labels: np.ndarray  # (n,) int64
    classes: list[str]  # class name of each label
    skipped_ids: np.ndarray  # targets of the manifest without an embedding
    sketches: SketchesConfig  # the run's preprocessing
    distance: str
    files: dict[str, Path]  # backbone, metric_model: where they are now
    digests: dict[str, str]  # their SHA-256 when the index was built
    attrs: dict[str, Any]  # loss, seed, view, n_targets, n_skipped, ...

    def __len__(self) -> int:
        return len(self.ids)

    def class_names(self, rows: Sequence[int] | np.ndarray) -> list[str]:
        """The class name of each of `rows`."""
        return [self.classes[int(label)] for label in self.labels[np.asarray(rows, dtype=np.int64)]]

    def thumbnails(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """(len(rows), 96, 96) uint8 thumbnails of `rows`, in the order given."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
            raise ValueError(f"{self.path}: thumbnail rows must be in 0..{len(self) - 1}")
        unique, back = np.unique(rows, return_inverse=True)  # h5py reads increasing indices
        with open_h5(self.path) as f:
            images = f["thumbnails"][unique] if len(unique) else np.empty((0, THUMBNAIL, THUMBNAIL), np.uint8)
        return images[back]

    def check_files(self) -> None:
        """The model files are those the index was built with (same SHA-256); else a ValueError saying to
        rebuild the index."""
        for key, path in self.files.items():
            if not path.is_file():
                raise ValueError(f"{self.path}: its {key.replace('_', ' ')} {path} is missing")
            if sha256(path) != self.digests[key]:
                raise ValueError(
                    f"{self.path}: built from another {path} (the file changed since): rebuild the index "
                    "(snakemake builds it after train_metric)"
                )


def sha256(path: PathLike) -> str:
    """The SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def thumbnail(image: np.ndarray, size: int = THUMBNAIL) -> np.ndarray:
    """A (H, W) uint8 view resized to (size, size) (Lanczos: sharp enlarged, without aliasing reduced)."""
    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS))


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
    from bwot.metric import load_metric_model

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
    summary = {"targets": len(ids), "skipped": len(skipped), "dim": int(embeddings.shape[1])}
    log.info("%s: %s", out, summary)
    return summary


def read_index(path: PathLike) -> RetrievalIndex:
    """Read an index file; a ValueError naming the file when it is not one."""
    path = Path(path)
    with open_h5(path) as f:
        if f.attrs.get("format") != FORMAT:
            raise ValueError(f"{path}: not a bwot retrieval index (expected format '{FORMAT}')")
        try:
            attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
            index = RetrievalIndex(
                path=path,
                embeddings=f["embeddings"][()],
                ids=read_strings(f["ids"]),
                labels=f["labels"][()].astype(np.int64),
                classes=list(read_strings(f["classes"])),
                skipped_ids=read_strings(f["skipped_ids"]),
                sketches=SketchesConfig.from_mapping(json.loads(attrs["sketches"])),
                distance=str(attrs["distance"]),
                files={k: (path.parent / str(attrs[k])).resolve() for k in MODEL_FILES},
                digests={k: str(attrs[f"{k}_sha256"]) for k in MODEL_FILES},
                attrs=attrs,
            )
        except (KeyError, TypeError, ValueError) as err:  # a missing dataset or attribute, bad JSON
            raise ValueError(f"{path}: a damaged retrieval index ({type(err).__name__}: {err})") from None
    sizes = {len(index.ids), len(index.labels), len(index.embeddings)}
    if len(index) == 0 or len(sizes) > 1 or index.embeddings.ndim != 2:
        raise ValueError(f"{path}: a damaged retrieval index (no targets, or ids, labels, embeddings apart)")
    return index
