"""Embed your own sketches or meshes with a finished run's trained networks: `bwot embed`.

Sketches take a query's path (`Retriever.prepare` + `Retriever.embed`: decoding, the run's `sketches:`
preprocessing, the sketch CNN one image per pass on one thread, the sketch metric network on one thread),
so a run's own test sketch gets, bit for bit, the embedding `evaluate` computed for it.

Meshes take the pipeline's shape path: loaded, cleaned and rendered with the rig, size and up axis the run's
views shards were rendered with (their attributes; `ViewRenderer.render_file`, as `render_shard`), made
line drawings when the shape CNN was trained on them (`view_style: lines`, as `extract_features`), through
the shape CNN (`results/<name>/backbone/shapes.pt`) with the max over views (`embed_items` then `amax`, as
`extract_features`), then the shape metric network on one thread (as `evaluate`'s `embed_targets`). The
metric network's tiles make that step independent of the batch; the CNN is not: `extract_features`
sends several meshes' views in one forward pass (`features.extract_batch_size` images) on the run's
threads, and PyTorch picks its convolution kernels by batch size. Here each mesh's views go in one pass
on one thread, which is what extraction computes with one mesh per batch on one thread (bit for bit,
tested). Against a batched extraction bit parity is not guaranteed (measured on the tests' resnet18 at
32 px: batches of 1, 2 and 4 meshes, on 1 or 2 threads, all gave the same bits; tested: within float32
rounding).

Output (`write_embeddings`, atomically): `ids` (n,) str, `embeddings` (n, out_dim) float32, attributes
`format`, `modality`, `run`, `loss`, `seed`, `distance`, `backbone`, `backbone_sha256`, `metric_model`,
`metric_model_sha256` (paths absolute), and for meshes `rig`, `size`, `up`, `view_style`.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from bwot.features.inference import embed_items, load_backbone, one_thread
from bwot.features.lines import line_drawings
from bwot.io import PathLike, h5_writer, set_attrs, write_strings
from bwot.query.index import sha256
from bwot.query.retriever import Retriever
from bwot.render.meshes import BadMeshError
from bwot.render.renderer import ViewRenderer

log = logging.getLogger(__name__)
FORMAT = "bwot-embeddings-v1"
MODALITIES = ("sketches", "meshes")


def item_ids(paths: Sequence[PathLike], names: Sequence[str] | None = None) -> list[str]:
    """The id of each item: `names`, or each file's stem; a ValueError naming every repeated id."""
    if names is not None and len(names) != len(paths):
        raise ValueError(f"{len(names)} names for {len(paths)} files: give one name per file")
    ids = [str(n) for n in names] if names is not None else [Path(p).stem for p in paths]
    if empty := [str(p) for p, i in zip(paths, ids, strict=True) if not i]:
        raise ValueError(f"empty ids for {', '.join(empty)}")
    repeated = [i for i, count in Counter(ids).items() if count > 1]
    if repeated:
        which = "; ".join(
            f"'{i}' ({', '.join(str(p) for p, j in zip(paths, ids, strict=True) if j == i)})"
            for i in repeated
        )
        raise ValueError(f"repeated ids: {which}: give each file its own name (--names)")
    return ids


def _refuse(what: str, total: int, problems: list[str]) -> None:
    if problems:
        raise ValueError(f"{len(problems)} of {total} {what} cannot be embedded:\n  " + "\n  ".join(problems))


class Embedder:
    """A finished run's trained networks of one loss (the run's retrieval index says which files),
    ready to embed sketches (`sketches`) or meshes (`meshes`)."""

    def __init__(self, run_dir: PathLike, loss: str | None = None) -> None:
        self.retriever = Retriever(run_dir, loss)
        self.run_dir = self.retriever.run_dir
        self.index = self.retriever.index
        self.metric = self.retriever.metric
        self._shapes: tuple[Any, dict[str, Any]] | None = None

    @property
    def loss(self) -> str:
        return self.retriever.loss

    # -- sketches ---------------------------------------------------------------------------------------
    def prepare_sketches(self, paths: Sequence[PathLike]) -> np.ndarray:
        """(n, size, size) uint8 upright sketches as the CNN sees them; one ValueError naming every file
        that is not a usable sketch and why."""
        images, problems = [], []
        for path in paths:
            try:
                images.append(self.retriever.prepare(Path(path)))
            except (ValueError, OSError) as err:
                problems.append(str(err))
        _refuse("sketches", len(paths), problems)
        return np.stack(images)

    def sketches(self, paths: Sequence[PathLike]) -> np.ndarray:
        """(n, out_dim) float32 embeddings of sketch files, exactly as a query (and `evaluate`)."""
        return self.retriever.embed(self.prepare_sketches(paths))

    # -- meshes -----------------------------------------------------------------------------------------
    @property
    def shape_backbone_path(self) -> Path:
        return self.run_dir / "backbone" / "shapes.pt"

    def shape_backbone(self) -> tuple[Any, dict[str, Any]]:
        """The trained shape CNN and its checkpoint's config (loaded once)."""
        if self._shapes is None:
            path = self.shape_backbone_path
            if not path.is_file():
                raise ValueError(f"{self.run_dir}: no shape CNN ({path} is missing): not a finished run")
            self._shapes = load_backbone(path, "cpu")
        return self._shapes

    def render_settings(self) -> dict[str, Any]:
        """rig, size and up of the run's views (the attributes of its first views shard)."""
        shards = sorted((self.run_dir / "views").glob("shard-*.h5"))
        if not shards:
            raise ValueError(f"{self.run_dir}: no views shards (views/shard-*.h5): not a finished run")
        with h5py.File(shards[0], "r") as f:
            missing = [k for k in ("rig", "size", "up") if k not in f.attrs]
            if missing:
                raise ValueError(
                    f"{shards[0]}: no {', '.join(missing)} attribute(s): how were they rendered?"
                )
            return {
                "rig": str(f.attrs["rig"]),
                "size": int(f.attrs["size"]),
                "up": str(f.attrs["up"]),
            }

    def render_meshes(self, paths: Sequence[PathLike]) -> np.ndarray:
        """(n, V, size, size) uint8 views of mesh files, rendered as the run rendered its targets; one
        ValueError naming every mesh that cannot be rendered and why."""
        settings = self.render_settings()
        views, problems = [], []
        with ViewRenderer(settings["size"], settings["rig"], settings["up"], threads=1) as renderer:
            for path in paths:
                try:
                    views.append(renderer.render_file(Path(path)))
                except BadMeshError as err:
                    problems.append(str(err))
        _refuse("meshes", len(paths), problems)
        return np.stack(views)

    def view_features(self, views: np.ndarray) -> np.ndarray:
        """(n, D) float32 shape features of rendered views (n, V, H, W) uint8: line drawings when the CNN
        was trained on them, the CNN on each mesh's V views in one pass on one thread, max over views."""
        model, meta = self.shape_backbone()
        if meta.get("view_style") == "lines":
            views = line_drawings(views)
        images = torch.from_numpy(np.ascontiguousarray(views, dtype=np.uint8))
        size, device = int(meta["input_size"]), torch.device("cpu")
        with one_thread():
            pooled = [
                embed_items(model, images[i : i + 1], size, device).amax(dim=1) for i in range(len(images))
            ]
        return torch.cat(pooled).numpy()

    def embed_shape_features(self, features: np.ndarray) -> np.ndarray:
        """(n, out_dim) float32 embeddings of pooled shape features, on one thread as `evaluate`."""
        with one_thread():
            return np.asarray(self.metric.embed_shapes(features), dtype=np.float32)

    def meshes(self, paths: Sequence[PathLike]) -> np.ndarray:
        """(n, out_dim) float32 embeddings of mesh files."""
        self.shape_backbone()  # a run without a shape CNN is refused before rendering
        return self.embed_shape_features(self.view_features(self.render_meshes(paths)))

    # -- provenance -------------------------------------------------------------------------------------
    def provenance(self, modality: str) -> dict[str, Any]:
        """The attributes that say what embedded: run, loss, seed, distance, the two model files and their
        SHA-256 (the CNN of the modality), and for meshes how they were rendered."""
        backbone = self.index.files["backbone"] if modality == "sketches" else self.shape_backbone_path
        metric = self.index.files["metric_model"]
        attrs: dict[str, Any] = {
            "format": FORMAT,
            "modality": modality,
            "run": str(Path(os.path.abspath(self.run_dir))),
            "loss": self.loss,
            "seed": int(self.index.attrs.get("seed", -1)),
            "distance": self.index.distance,
            "backbone": str(Path(backbone).resolve()),
            "backbone_sha256": sha256(backbone),
            "metric_model": str(Path(metric).resolve()),
            "metric_model_sha256": sha256(metric),
        }
        if modality == "meshes":
            attrs |= self.render_settings()
            attrs["view_style"] = str(self.shape_backbone()[1].get("view_style") or "shaded")
        return attrs


def write_embeddings(
    out: PathLike, ids: Sequence[str], embeddings: np.ndarray, attrs: dict[str, Any]
) -> None:
    """`ids`, `embeddings` (float32) and `attrs`, written to `out` atomically."""
    with h5_writer(out) as f:
        write_strings(f, "ids", ids)
        f.create_dataset("embeddings", data=np.asarray(embeddings, dtype=np.float32))
        set_attrs(f, attrs)


def embed_files(
    run_dir: PathLike,
    modality: str,
    paths: Sequence[PathLike],
    out: PathLike,
    *,
    loss: str | None = None,
    names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Embed sketch or mesh files with the run's networks of `loss` and write them to `out`; return a
    summary. Every problem is a ValueError naming the files, raised before anything is written."""
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r} (expected one of {', '.join(MODALITIES)})")
    if not paths:
        raise ValueError(f"no {modality} to embed")
    ids = item_ids(paths, names)
    embedder = Embedder(run_dir, loss)
    embeddings = embedder.sketches(paths) if modality == "sketches" else embedder.meshes(paths)
    write_embeddings(out, ids, embeddings, embedder.provenance(modality))
    summary = {
        "items": len(ids),
        "dim": int(embeddings.shape[1]),
        "modality": modality,
        "loss": embedder.loss,
    }
    log.info("%s: %s", out, summary)
    return summary
