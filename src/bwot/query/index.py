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

Models added after training (`bwot add`, `bwot.query.add`) are rows appended to `embeddings`, `ids`,
`labels` and `thumbnails`, and recorded in four optional datasets of equal length, all present or none:
`added_ids` (each an id of the index), `added_sources` (the mesh file's absolute path), `added_sha256`
(its SHA-256) and `added_at` (when, ISO 8601 UTC).

Above `bwot.query.ann.HNSW_ABOVE` targets an index also holds its HNSW graph (dataset `hnsw`, uint8, and
attributes `hnsw_rows`, `hnsw_m`, `hnsw_ef_construction`; see bwot.query.ann), which covers every row.

An index is checked when it is read (`read_index`), since a damaged one would answer wrongly rather than
fail: every dataset and attribute present, `embeddings` 2-D float and finite, `labels` integers naming a
class, `ids` unique and non-empty, `thumbnails` (n, 96, 96) uint8, the distance one `evaluate` knows, and
the two model paths inside the run folder (the index folder's parent, after symlinks). Before a query
(`bwot.query.Retriever`), the model files must be those the index was built with (`check_files`) and the
metric model must fit it (`check_models`: its loss, its output width, the backbone's feature width).
Each failure is one ValueError naming the index file and every problem found.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
from PIL import Image

from bwot.config import SketchesConfig
from bwot.evaluation.distances import DISTANCES
from bwot.io import PathLike, open_h5, read_strings, set_attrs
from bwot.query.ann import HnswGraph

if TYPE_CHECKING:
    from bwot.metric.model import MetricModel

log = logging.getLogger(__name__)
FORMAT = "bwot-index-v1"
THUMBNAIL = 96  # pixels, square
MODEL_FILES = ("backbone", "metric_model")  # the sketch side of a query: CNN, then metric network
DATASETS = ("embeddings", "ids", "labels", "classes", "skipped_ids", "thumbnails")
ATTRS = ("loss", "distance", "sketches", "n_targets", "n_skipped", *MODEL_FILES)
ATTRS += tuple(f"{k}_sha256" for k in MODEL_FILES)
ADDED = ("added_ids", "added_sources", "added_sha256", "added_at")  # optional: models added later
GRAPH = "hnsw"  # optional: the HNSW graph of large indexes (bwot.query.ann), with attribute hnsw_rows
NAMED = 5  # bad targets named in a message; the rest are counted


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
    added: dict[str, np.ndarray] = field(default_factory=dict)  # ADDED datasets, when models were added

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

    def graph(self) -> HnswGraph:
        """The index's HNSW graph: the stored one, or one built now (logged) when none is stored."""
        with open_h5(self.path) as f:
            if GRAPH in f:
                return HnswGraph.from_bytes(f[GRAPH][()], self.embeddings, self.distance)
        log.info("%s: no HNSW graph stored: building one over its %d targets", self.path, len(self))
        return HnswGraph.build(self.embeddings, self.distance)

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

    def check_models(self, metric: MetricModel, feature_dim: int) -> None:
        """The metric model fits the index: trained with its loss (the model's own metadata), embedding to its
        width, and taking the backbone's features (`feature_dim` wide); else a ValueError naming the index,
        the model file and every mismatch."""
        loss, index_loss = str(metric.meta.get("loss", "")), str(self.attrs.get("loss", ""))
        out_dim, sketch_dim = int(metric.config["out_dim"]), int(metric.config["sketch_dim"])
        problems = []
        if loss != index_loss:
            problems.append(f"it was trained with loss '{loss}', the index is of loss '{index_loss}'")
        if out_dim != self.embeddings.shape[1]:
            problems.append(
                f"it embeds to {out_dim} dimensions, the index's targets have {self.embeddings.shape[1]}"
            )
        if sketch_dim != feature_dim:
            problems.append(
                f"it takes sketch features of {sketch_dim} dimensions, the backbone gives {feature_dim}"
            )
        if problems:
            model = self.files["metric_model"]
            raise ValueError(f"{self.path}: its metric model {model} does not fit it: {'; '.join(problems)}")


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


def write_graph(f: h5py.File, graph: HnswGraph) -> None:
    """Store `graph` (without its vectors) in an open index file, with its size and parameters."""
    f.create_dataset(GRAPH, data=graph.to_bytes())
    params = graph.params
    set_attrs(
        f, {"hnsw_rows": len(graph), "hnsw_m": params.m, "hnsw_ef_construction": params.ef_construction}
    )


def read_index(path: PathLike) -> RetrievalIndex:
    """Read and check an index file; a ValueError naming the file and every problem when it is not a
    usable index (see the module's docstring)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: a folder, not a retrieval index file")
    with open_h5(path) as f:
        if f.attrs.get("format") != FORMAT:
            raise ValueError(f"{path}: not a bwot retrieval index (expected format '{FORMAT}')")
        _refuse(path, layout_problems(f))
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
                added={k: read_strings(f[k]) for k in ADDED if k in f},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:  # bad JSON, bad sketches section
            raise ValueError(f"{path}: a damaged retrieval index ({type(err).__name__}: {err})") from None
    _refuse(path, value_problems(index))
    _refuse(path, path_problems(index), "refused")
    return index


def _refuse(path: Path, problems: list[str], what: str = "a damaged retrieval index") -> None:
    if problems:
        raise ValueError(f"{path}: {what}: {'; '.join(problems)}")


def layout_problems(f: h5py.File) -> list[str]:
    """What an index file lacks or holds in the wrong shape or type: datasets, attributes, the distance."""
    missing = [f"no '{name}' dataset" for name in DATASETS if not isinstance(f.get(name), h5py.Dataset)]
    missing += [f"no '{name}' attribute" for name in ATTRS if name not in f.attrs]
    if missing:
        return missing
    problems = []
    emb, labels, thumbs = f["embeddings"], f["labels"], f["thumbnails"]
    n = len(f["ids"])
    if emb.ndim != 2 or emb.dtype.kind != "f":
        problems.append(f"embeddings must be a 2-D float array, not {emb.dtype} {emb.shape}")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        problems.append(f"labels must be a 1-D integer array, not {labels.dtype} {labels.shape}")
    added = [k for k in ADDED if k in f]
    if added and len(added) < len(ADDED):
        problems.append(
            f"added models recorded in part: {', '.join(added)} without the rest of {', '.join(ADDED)}"
        )
        added = []
    elif added:
        if any(not isinstance(f[k], h5py.Dataset) or f[k].ndim != 1 for k in added):
            problems.append(f"{', '.join(ADDED)} must be 1-D datasets")
            added = []
        elif len({len(f[k]) for k in added}) > 1:
            problems.append(f"{', '.join(f'{len(f[k])} {k}' for k in added)}: apart")
    strings = [
        k for k in ("ids", "classes", "skipped_ids", *added) if h5py.check_string_dtype(f[k].dtype) is None
    ]
    problems += [f"'{k}' must hold strings, not {f[k].dtype}" for k in strings]
    if thumbs.shape != (n, THUMBNAIL, THUMBNAIL) or thumbs.dtype != np.uint8:
        problems.append(
            f"thumbnails must be ({n}, {THUMBNAIL}, {THUMBNAIL}) uint8, not {thumbs.dtype} {thumbs.shape}"
        )
    if n == 0 or not (len(emb) == len(labels) == n):
        problems.append(f"{n} ids, {len(labels)} labels and {len(emb)} embeddings: no targets, or apart")
    if GRAPH in f:
        graph, rows = f[GRAPH], f.attrs.get("hnsw_rows")
        if not isinstance(graph, h5py.Dataset) or graph.ndim != 1 or graph.dtype != np.uint8:
            problems.append(f"'{GRAPH}' must be a 1-D uint8 dataset (an HNSW graph)")
        elif rows != n:
            problems.append(f"its HNSW graph covers {rows} rows, not the {n} targets")
    distance = f.attrs["distance"]
    if distance not in DISTANCES:
        problems.append(f"unknown distance {distance!r} (expected one of {', '.join(DISTANCES)})")
    return problems


def value_problems(index: RetrievalIndex) -> list[str]:
    """What is wrong in the values of a read index: embeddings not finite, labels naming no class, ids empty
    or repeated (each with the first few targets concerned)."""
    ids, problems = index.ids, []
    bad = ~np.isfinite(index.embeddings).all(axis=1)
    if bad.any():
        problems.append(
            f"embeddings not finite (NaN or inf) for {int(bad.sum())} of {len(ids)} targets: "
            f"{_names(ids[bad])}"
        )
    bad = (index.labels < 0) | (index.labels >= len(index.classes))
    if bad.any():
        labels = _names(
            np.array([f"{t} (label {x})" for t, x in zip(ids[bad], index.labels[bad], strict=True)])
        )
        problems.append(
            f"labels outside 0..{len(index.classes) - 1} (the {len(index.classes)} classes) for "
            f"{int(bad.sum())} of {len(ids)} targets: {labels}"
        )
    if (empty := int((np.char.str_len(ids.astype(str)) == 0).sum())) > 0:
        problems.append(f"empty ids for {empty} of {len(ids)} targets")
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        problems.append(f"ids repeated: {_names(unique[counts > 1])}")
    if len(added := index.added.get("added_ids", ())):
        if (stray := added[~_member(added, ids)]).size:
            problems.append(f"added models that are not targets: {_names(stray)}")
        unique, counts = np.unique(added, return_counts=True)
        if (counts > 1).any():
            problems.append(f"added models recorded twice: {_names(unique[counts > 1])}")
        if (skipped := added[_member(added, index.skipped_ids)]).size:
            problems.append(f"added models also skipped: {_names(skipped)}")
    return problems


def _member(names: np.ndarray, of: np.ndarray) -> np.ndarray:
    """Whether each of `names` is one of `of`, in time linear in both (np.isin compares every pair of
    object arrays: hours for a million added ids)."""
    known = set(of.tolist())
    return np.fromiter((name in known for name in names.tolist()), bool, len(names))


def path_problems(index: RetrievalIndex) -> list[str]:
    """Model paths of an index that lead outside its run folder (the index folder's parent, symlinks
    followed): an index may only name the run's own models."""
    run = index.path.parent.parent.resolve()
    return [
        f"its {key.replace('_', ' ')} '{index.attrs[key]}' is {file}, outside the run folder {run}"
        for key, file in index.files.items()
        if not file.is_relative_to(run)
    ]


def _names(ids: np.ndarray) -> str:
    """'a, b, c' (the first NAMED ids, then '...')."""
    return ", ".join(str(t) for t in ids[:NAMED]) + (", ..." if len(ids) > NAMED else "")
