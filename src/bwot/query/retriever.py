"""Query a finished run with a sketch: `Retriever(run_dir, loss).search(sketch, k)`.

A query takes the path of a test sketch through the pipeline, function for function: decoding, ink,
normalising and sizing with the run's `sketches:` section (`bwot.sketches.preprocess_sketch`, upright:
rotation 0), the trained sketch CNN (`bwot.features.inference.load_backbone` + `embed_upright`, as
`extract_features`), the sketch metric network (`bwot.metric.load_metric_model`), then the distances and
the stable ranking of `evaluate` (`DistanceMatrix`, `stable_argsort_rows`) against the targets of the
run's retrieval index (`bwot.query.index`), which were embedded once, by `evaluate`'s own call. Targets
skipped upstream have no embedding: `evaluate` ranks them last, at distance +inf; a query never returns
them.

The same bits: PyTorch and BLAS pick their kernels by batch size, and a feature computed in a batch may
differ in its last bits from the same feature computed alone, enough to swap two near-tied targets. So
the pipeline embeds every sketch's upright copy alone (`embed_upright`, as a query is) and the metric
networks and distances go in row tiles of one fixed size (bwot.tiles). The thread count matters too:
a product split over two threads can round differently from one thread (measured on the built-in run's
sketch metric network), so the CNN pass and the metric network run on one thread, as `evaluate` does
(its rule's `threads: 1`). Then a query's distances are those `evaluate` computed for the same sketch,
bit for bit, whatever else is queried with it (tested against `ranking.npz`). That holds on the machine
kind the run used: features extracted on a GPU (with mixed precision) agree with a CPU query only to
within float16 rounding.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from bwot.features.inference import embed_upright, load_backbone, one_thread
from bwot.io import PathLike
from bwot.metric import load_metric_model
from bwot.query.ann import ExactSearch, GraphSearch, choose_backend
from bwot.query.index import RetrievalIndex, read_index
from bwot.sketches.decode import decode_grayscale, to_gray
from bwot.sketches.pipeline import preprocess_gray, preprocess_sketch

log = logging.getLogger(__name__)
Source = str | os.PathLike[str] | bytes | np.ndarray | Image.Image
DEFAULT_LOSS = "ot"


@dataclass(frozen=True)
class Hit:
    """One retrieved target: its rank (1 = nearest), id, class, distance and row in the index."""

    rank: int
    id: str
    label: int
    class_name: str
    distance: float
    row: int

    def as_dict(self) -> dict[str, Any]:
        """rank, id, class, distance (what `bwot query --json` prints per hit)."""
        return {"rank": self.rank, "id": self.id, "class": self.class_name, "distance": self.distance}


@dataclass
class QueryResult:
    """A query's name (its file, or what the image was), its preprocessed upright image and its hits."""

    name: str
    image: np.ndarray  # (size, size) uint8: what the CNN saw
    hits: list[Hit]

    def as_dict(self) -> dict[str, Any]:
        """query (the name) and results (the hits as dicts): what `bwot query --json` prints per sketch."""
        return {"query": self.name, "results": [hit.as_dict() for hit in self.hits]}


def index_path(run_dir: PathLike, loss: str | None = None) -> Path:
    """`run_dir/index/<loss>.h5`, with `loss` None meaning `ot`, or the only index there is; a ValueError
    that names the folder and says what is missing otherwise."""
    run = Path(run_dir)
    if not run.is_dir():
        raise ValueError(f"{run}: no such run folder (expected results/<name>/ of a finished run)")
    built = sorted(p.stem for p in (run / "index").glob("*.h5"))
    trained = sorted(p.name for p in (run / "metric").glob("*") if p.is_dir())
    if loss is None:
        if DEFAULT_LOSS in built or len(built) == 1:
            loss = DEFAULT_LOSS if DEFAULT_LOSS in built else built[0]
        elif built:
            raise ValueError(f"{run}: indexes of several losses ({', '.join(built)}): choose one with --loss")
        elif trained:
            raise ValueError(
                f"{run}: no retrieval index (index/<loss>.h5) though {', '.join(trained)} were trained: "
                "run snakemake again to build them (rule retrieval_index)"
            )
        else:
            raise ValueError(f"{run}: no trained metric model and no retrieval index: not a finished run")
    path = run / "index" / f"{loss}.h5"
    if path.exists():  # read_index says what is wrong with anything else than an index file
        return path
    if loss not in trained:
        raise ValueError(
            f"{run}: loss '{loss}' was not trained in this run (trained: {', '.join(trained) or 'none'})"
        )
    raise ValueError(f"{path}: no retrieval index of loss '{loss}': run snakemake again to build it")


class Retriever:
    """The trained sketch side of a run and the retrieval index of one loss, ready to answer queries.

    `search(sketch, k)` takes a file path, the bytes of an image file, an (H, W) uint8 array or a Pillow
    image, and returns its k nearest targets as `evaluate` ranks them (backend `exact`), or as the HNSW
    graph finds them (`hnsw`; `auto`: `hnsw` above `bwot.query.ann.HNSW_ABOVE` targets).
    """

    def __init__(
        self, run_dir: PathLike, loss: str | None = None, *, device: str = "cpu", backend: str = "auto"
    ) -> None:
        self.run_dir = Path(run_dir)
        index = read_index(index_path(self.run_dir, loss))
        self._stamp = file_stamp(index.path)
        self._refreshing = threading.Lock()
        self.requested_backend = backend
        index.check_files()
        self.device = torch.device(device)
        self.backbone, meta = load_backbone(index.files["backbone"], self.device)
        self.input_size = int(meta["input_size"])
        self.metric = load_metric_model(index.files["metric_model"], self.device)
        index.check_models(self.metric, feature_width(self.backbone, self.input_size, self.device))
        # the upright copy only: rotation 0 of preprocess_sketch, without computing the others
        self.upright = dataclasses.replace(index.sketches, rotations=1)
        # the index and how it is searched, replaced together (`refresh`, from any thread)
        self._state: tuple[RetrievalIndex, ExactSearch | GraphSearch] = (index, self._searcher(index))

    @property
    def index(self) -> RetrievalIndex:
        """The retrieval index answering now."""
        return self._state[0]

    @property
    def searcher(self) -> ExactSearch | GraphSearch:
        """How the index is searched now."""
        return self._state[1]

    def _searcher(self, index: RetrievalIndex) -> ExactSearch | GraphSearch:
        """How `index` is searched with the backend asked for (its graph, or every target)."""
        if choose_backend(self.requested_backend, len(index)) == "hnsw":
            return GraphSearch(index.graph(), index.embeddings, index.distance)
        return ExactSearch(index.embeddings, index.distance)

    @property
    def backend(self) -> str:
        """exact or hnsw: what answers."""
        return self.searcher.name

    def refresh(self) -> bool:
        """Take the index file up again when it changed on disk (`bwot add` renames a new one over it);
        True when it did. An index that is unreadable now, or was built for other model files (the run
        was retrained: restart to use it), is not taken: logged, and the loaded one answers on."""
        with self._refreshing:
            stamp = file_stamp(self.index.path)
            if stamp == self._stamp:
                return False
            self._stamp = stamp
            try:
                index = read_index(self.index.path)
            except (OSError, ValueError) as err:
                log.warning("%s changed but cannot be used (%s): the loaded index answers", stamp[0], err)
                return False
            old = self.index
            if index.digests != old.digests:
                log.warning("%s: rebuilt for other model files (retrained?): restart to use it", index.path)
                return False
            if len(index) < len(old) or not np.array_equal(index.ids[: len(old)], old.ids):
                log.warning("%s: rebuilt with other rows: restart to use it", index.path)
                return False
            self._state = (index, self._searcher(index))  # rows only appended: a row in flight stays
        log.info("%s: taken up again, %d targets now", index.path, len(index))
        return True

    @property
    def loss(self) -> str:
        """The loss whose metric networks and index answer."""
        return str(self.index.attrs.get("loss") or self.index.path.stem)

    def prepare(self, source: Source, name: str | None = None) -> np.ndarray:
        """The upright (size, size) uint8 image the CNN sees of a sketch, preprocessed as the pipeline does;
        a ValueError naming the file (or `name`) when it is not a usable sketch (not an image, blank)."""
        if isinstance(source, str | os.PathLike):
            return preprocess_sketch(source, self.upright)[0]
        where = name or _describe(source)
        min_side = 2 * self.upright.size
        if isinstance(source, bytes | bytearray | memoryview):
            gray = decode_grayscale(bytes(source), where, min_side)
        elif isinstance(source, Image.Image):
            gray = to_gray(source)
        else:
            gray = np.asarray(source)
            if gray.ndim != 2 or gray.dtype != np.uint8 or min(gray.shape) == 0:
                raise ValueError(f"{where}: not an (H, W) uint8 image array ({gray.dtype} {gray.shape})")
        return preprocess_gray(gray, self.upright, where)[0]

    def features(self, images: np.ndarray) -> np.ndarray:
        """(n, D) float32 sketch CNN features of preprocessed (n, size, size) uint8 sketches: each image alone
        through the CNN on one thread (`embed_upright`, as the pipeline embeds an upright copy)."""
        images = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8))
        return embed_upright(self.backbone, images, self.input_size, self.device).numpy()

    def embed(self, images: np.ndarray) -> np.ndarray:
        """(n, out_dim) float32 embeddings of preprocessed (n, size, size) uint8 sketches."""
        return self.embed_features(self.features(images))

    def embed_features(self, features: np.ndarray) -> np.ndarray:
        """(n, out_dim) float32 embeddings of sketch CNN features, on one thread as `evaluate` embeds them
        (its rule's `threads: 1`): a product split over more threads can round its last bits otherwise."""
        with one_thread():
            return self.metric.embed_sketches(features)

    def rank(self, embeddings: np.ndarray, k: int) -> tuple[Sequence[np.ndarray], Sequence[np.ndarray]]:
        """(rows, distances) of each embedding: its k nearest targets (all when fewer), nearest first, ties
        in the manifest's order (as `evaluate` ranks); with `hnsw`, among the graph's candidates (a hit may
        be missing, never wrong: bwot.query.ann)."""
        return self.searcher.rank(embeddings, k)

    def summary(self) -> dict[str, Any]:
        """The run, loss, distance and target counts (what `bwot query --json` and `bwot serve` report)."""
        return {
            "run": str(self.run_dir),
            "loss": self.loss,
            "distance": self.index.distance,
            "targets": len(self.index),
            "targets_skipped": int(self.index.attrs["n_skipped"]),
            "backend": self.backend,
        }

    def search_prepared(self, images: np.ndarray, names: Sequence[str], k: int = 10) -> list[QueryResult]:
        """The k nearest targets of preprocessed (n, size, size) sketches (e.g. a sketch shard's upright
        copies)."""
        return self.search_features(self.features(images), images, names, k)

    def search_features(
        self, features: np.ndarray, images: np.ndarray, names: Sequence[str], k: int = 10
    ) -> list[QueryResult]:
        """`search_prepared` of sketches whose CNN features (`features`) are already computed."""
        index, searcher = self._state  # one index throughout, whatever `refresh` does meanwhile
        rows, dists = searcher.rank(self.embed_features(features), k)
        out = []
        for name, image, top, dist in zip(names, images, rows, dists, strict=True):
            classes = index.class_names(top)
            hits = [
                Hit(rank + 1, str(index.ids[r]), int(index.labels[r]), c, float(d), int(r))
                for rank, (r, c, d) in enumerate(zip(top, classes, dist, strict=True))
            ]
            out.append(QueryResult(name, image, hits))
        return out

    def search_many(
        self, sources: Sequence[Source], k: int = 10, names: Sequence[str] | None = None
    ) -> list[QueryResult]:
        """`search` of several sketches at once (`names`: what to call them; default: their paths)."""
        if names is None:
            names = [str(s) if isinstance(s, str | os.PathLike) else _describe(s) for s in sources]
        images = np.stack([self.prepare(s, n) for s, n in zip(sources, names, strict=True)])
        return self.search_prepared(images, names, k)

    def search(self, source: Source, k: int = 10, name: str | None = None) -> QueryResult:
        """The k nearest targets of one sketch (a path, image-file bytes, an (H, W) uint8 array or a Pillow
        image), nearest first; `name` names it in the result and in errors (default: its path)."""
        return self.search_many([source], k, None if name is None else [name])[0]


def file_stamp(path: Path) -> tuple[Path, int, int, int]:
    """What changes when a file is replaced or rewritten: its inode, modification time and size."""
    st = path.stat()
    return path, st.st_ino, st.st_mtime_ns, st.st_size


def feature_width(backbone: torch.nn.Module, input_size: int, device: torch.device) -> int:
    """The width of the features a sketch CNN gives, from one blank image sent the way a query is."""
    blank = torch.full((1, input_size, input_size), 255, dtype=torch.uint8)
    return int(embed_upright(backbone, blank, input_size, device).shape[1])


def _describe(source: Any) -> str:
    if isinstance(source, bytes | bytearray | memoryview):
        return "<image bytes>"
    if isinstance(source, Image.Image):
        return "<Pillow image>"
    return "<array>"
