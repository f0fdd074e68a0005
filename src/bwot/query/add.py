"""Add models to a finished run's searchable set without retraining: `bwot add`.

New meshes are rendered and embedded by the run's own rig, shape CNN and shape metric network
(`bwot.query.embed.Embedder`, the way of the run's targets), given a thumbnail as `build_index` gives one
(`thumbnail` of the index's own view, `report.gallery_view` when it was built), and appended to the run's
retrieval index of one loss (`bwot.query.retriever.index_path`: `results/<name>/index/<loss>.h5`), which
`bwot query` and `bwot serve` read. Nothing is retrained and `evaluate` does not read the index: the
run's evaluation and report are unchanged.

Rules: every new id (the file stems, or `names`) must be new: not an id of the index, not a target skipped
upstream, not repeated among the new ones; else a ValueError naming them, and nothing is written. The class
of the added models is `class_name`: an existing class of the index (its label), or a new name appended to
the index's `classes`; by default `unlabelled` (appended when the index has no such class). The index is
rewritten whole under a temporary name and renamed over the old one (`bwot.io.h5_writer`), so a failure or
a kill at any moment leaves the old index as it was; additions to one run wait for each other (a lock on
the index folder, `bwot.io.locked_folder`), so none is lost. Provenance: the datasets `added_ids`,
`added_sources` (absolute paths), `added_sha256` (of each mesh file) and `added_at` (ISO 8601 UTC), one
row per added model, kept across later additions (see `bwot.query.index`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from bwot.io import PathLike, atomic_path, locked_folder, open_h5, read_strings, set_attrs, write_strings
from bwot.query.ann import HnswGraph, choose_backend
from bwot.query.embed import Embedder, item_ids
from bwot.query.index import ADDED, GRAPH, THUMBNAIL, read_index, sha256, thumbnail, write_graph
from bwot.query.retriever import index_path

log = logging.getLogger(__name__)
UNLABELLED = "unlabelled"


def check_new_ids(index_file: Path, ids: Sequence[str], existing: np.ndarray, skipped: np.ndarray) -> None:
    """A ValueError naming every id of `ids` already taken by a target (or a skipped target) of the index."""
    existing_ids, skipped_ids = set(existing.tolist()), set(skipped.tolist())
    taken = [i for i in ids if i in existing_ids]
    gone = [i for i in ids if i in skipped_ids]
    problems = []
    if taken:
        problems.append(f"already targets of the index: {', '.join(taken)}")
    if gone:
        problems.append(f"targets of the run skipped upstream: {', '.join(gone)}")
    if problems:
        raise ValueError(f"{index_file}: ids not new ({'; '.join(problems)}): give new ones (--names)")


def add_models(
    run_dir: PathLike,
    meshes: Sequence[PathLike],
    *,
    loss: str | None = None,
    names: Sequence[str] | None = None,
    class_name: str | None = None,
) -> dict[str, Any]:
    """Render, embed and append `meshes` to the run's retrieval index of `loss` (see the module's
    docstring); return a summary. Every problem is a ValueError raised before anything is written."""
    if not meshes:
        raise ValueError("no meshes to add")
    ids = item_ids(meshes, names)
    class_name = UNLABELLED if class_name is None else str(class_name).strip()
    if not class_name:
        raise ValueError("an empty class name")
    folder = index_path(run_dir, loss).parent
    with locked_folder(folder, "another bwot add is writing this run's index: waiting"):
        return _add_locked(run_dir, meshes, ids, loss, class_name)


def _add_locked(
    run_dir: PathLike, meshes: Sequence[PathLike], ids: list[str], loss: str | None, class_name: str
) -> dict[str, Any]:
    """`add_models` once it holds the index folder's lock: the index read here is the one replaced."""
    embedder = Embedder(run_dir, loss)  # the index of `loss`, read, checked and its model files verified
    index = embedder.index
    check_new_ids(index.path, ids, index.ids, index.skipped_ids)
    embedder.shape_backbone()  # a run without a shape CNN is refused before rendering
    views = embedder.render_meshes(meshes)
    embeddings = embedder.embed_shape_features(embedder.view_features(views))
    view = int(index.attrs.get("view", 0))
    if not 0 <= view < views.shape[1]:
        raise ValueError(
            f"{index.path}: thumbnails of view {view}, but the rig renders {views.shape[1]} views"
        )
    thumbs = np.stack([thumbnail(v[view]) for v in views])
    classes = list(index.classes)
    if class_name not in classes:
        classes.append(class_name)
    label = classes.index(class_name)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    sources = [str(Path(os.path.abspath(p))) for p in meshes]
    added = {
        "added_ids": ids,
        "added_sources": sources,
        "added_sha256": [sha256(p) for p in meshes],
        "added_at": [now] * len(ids),
    }
    write_enlarged(index.path, NewRows(ids, embeddings, label, classes, thumbs, added))
    summary = {
        "added": len(ids),
        "targets": len(index) + len(ids),
        "class": class_name,
        "loss": embedder.loss,
        "index": str(index.path),
    }
    log.info("%s: %s", index.path, summary)
    return summary


@dataclass(frozen=True)
class NewRows:
    """What an addition appends to an index: the rows (ids, embeddings, one label, thumbnails), the
    classes list with the label's name in it, and the ADDED provenance of each row."""

    ids: Sequence[str]
    embeddings: np.ndarray
    label: int
    classes: Sequence[str]
    thumbs: np.ndarray
    added: dict[str, Sequence[str]]


def write_enlarged(path: Path, new: NewRows) -> None:
    """A new index file: the old one's datasets with the new rows appended and its attributes, written
    whole under a temporary name, read back and checked (`read_index`), then renamed over `path` (a
    failure or a kill before the rename leaves the old file untouched)."""
    with atomic_path(path) as tmp:
        with open_h5(path) as old, h5py.File(tmp, "w") as f:
            _copy_and_append(old, f, new)
        read_index(tmp)  # a complete, valid index, or nothing is renamed


def _copy_and_append(old: h5py.File, f: h5py.File, new: NewRows) -> None:
    ids, embeddings, label, classes, thumbs, added = (
        new.ids, new.embeddings, new.label, new.classes, new.thumbs, new.added
    )  # fmt: skip
    before = old["embeddings"][()]
    rows = np.concatenate([before, embeddings]).astype(np.float32)
    f.create_dataset("embeddings", data=rows)
    write_strings(f, "ids", [*read_strings(old["ids"]), *ids])
    f.create_dataset(
        "labels", data=np.concatenate([old["labels"][()], np.full(len(ids), label)]).astype(np.int64)
    )
    write_strings(f, "classes", classes)
    write_strings(f, "skipped_ids", read_strings(old["skipped_ids"]))
    _append_thumbnails(old["thumbnails"], thumbs, f)
    for key in ADDED:
        listed = list(read_strings(old[key])) if key in old else []
        write_strings(f, key, [*listed, *added[key]])
    set_attrs(f, dict(old.attrs))
    distance = str(old.attrs["distance"])
    if GRAPH in old:  # the stored graph, extended with the new rows
        graph = HnswGraph.from_bytes(old[GRAPH][()], before, distance)
        graph.add(embeddings)
        write_graph(f, graph)
    elif choose_backend("auto", len(rows)) == "hnsw":
        write_graph(f, HnswGraph.build(rows, distance))


def _append_thumbnails(old: h5py.Dataset, new: np.ndarray, f: h5py.File, block: int = 4096) -> None:
    """`thumbnails`: the old ones, then `new`, copied `block` rows at a time (bounded memory)."""
    n_old = len(old)
    out = f.create_dataset(
        "thumbnails",
        shape=(n_old + len(new), THUMBNAIL, THUMBNAIL),
        dtype=np.uint8,
        chunks=(1, THUMBNAIL, THUMBNAIL),
        compression="gzip",
    )
    for lo in range(0, n_old, block):
        hi = min(lo + block, n_old)
        out[lo:hi] = old[lo:hi]
    for lo in range(0, len(new), block):
        hi = min(lo + block, len(new))
        out[n_old + lo : n_old + hi] = np.asarray(new[lo:hi], dtype=np.uint8)
