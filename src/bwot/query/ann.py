"""How a query finds its nearest targets: `exact` (`ExactSearch`) or `hnsw` (`GraphSearch`, an HNSW graph,
faiss's `IndexHNSWFlat`, over the index's rows).

`exact` ranks every target, as `evaluate` does; its time grows with the targets
(bench/query/large.py measures where it passes 50 ms a query on one core: `HNSW_ABOVE`). `hnsw` walks a
graph to `EF_SEARCH` candidates, then computes their distances exactly (`DistanceMatrix`) and orders them as
`exact` would (distance, then row): a hit is always a true target at its true distance; only a target
the walk missed can be absent. `auto` picks `hnsw` above `HNSW_ABOVE` targets, `exact` below.

The graph is stored in the index file (dataset `hnsw`, uint8: faiss's serialisation without the vectors,
`IO_FLAG_SKIP_STORAGE`, so the file holds the embeddings once; attributes `hnsw_rows`, `hnsw_m`,
`hnsw_ef_construction`) when the index is written above `HNSW_ABOVE` targets (`build_index`, `bwot add`,
which also extends a stored graph with its new rows); an index without one builds it in memory when asked
for `hnsw`. Euclidean indexes search the graph with L2, cosine ones with the inner product of unit
vectors: both rank as their distance does. Graphs are built on one thread (faiss then inserts in row
order with its seeded level generator: the same graph every time); searches run on one thread.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import faiss
import numpy as np

from bwot.evaluation.distances import DistanceMatrix, Targets
from bwot.evaluation.metrics import stable_argsort_rows, stable_top_k_rows

log = logging.getLogger(__name__)
BACKENDS = ("auto", "exact", "hnsw")
HNSW_ABOVE = 200_000  # targets: exact takes 21 ms a query at 100k, 69 ms at 300k on one core (bench/query)
M = 32  # graph neighbours a node keeps (2 * M on the bottom layer)
EF_CONSTRUCTION = 80  # candidates kept while inserting
EF_SEARCH = 64  # candidates kept while searching: recall@10 >= 0.95 at 1M targets (bench/query/README.md)


def choose_backend(backend: str, targets: int) -> str:
    """`exact` or `hnsw`: `backend` itself, or for `auto` the one that answers `targets` targets faster."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (expected one of {', '.join(BACKENDS)})")
    if backend == "auto":
        return "hnsw" if targets > HNSW_ABOVE else "exact"
    return backend


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    """`--backend auto|exact|hnsw` for the commands that search an index (`bwot query`, `bwot serve`)."""
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help=f"exact: rank every model, as evaluate; hnsw: an HNSW graph's candidates; auto (default): "
        f"hnsw above {HNSW_ABOVE:,} models",
    )


def graph_vectors(embeddings: np.ndarray, distance: str) -> np.ndarray:
    """The float32 vectors the graph holds: the embeddings, made unit length for the cosine distance."""
    x = np.asarray(embeddings, np.float64)
    if distance == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(x, dtype=np.float32)


@dataclass
class GraphParams:
    """How a graph is built: neighbours per node and candidates kept while inserting."""

    m: int = M
    ef_construction: int = EF_CONSTRUCTION


class HnswGraph:
    """An HNSW graph over the rows of a retrieval index (row i of the index is node i)."""

    def __init__(self, index: faiss.IndexHNSWFlat, distance: str, storage: faiss.Index | None = None):
        self.index, self.distance = index, distance
        self._storage = storage  # owned here when the graph was read without its vectors

    @classmethod
    def build(cls, embeddings: np.ndarray, distance: str, params: GraphParams | None = None) -> HnswGraph:
        """A graph over `embeddings` (n, d), built on one thread (the same graph every time)."""
        params = params or GraphParams()
        metric = faiss.METRIC_INNER_PRODUCT if distance == "cosine" else faiss.METRIC_L2
        index = faiss.IndexHNSWFlat(int(embeddings.shape[1]), params.m, metric)
        index.hnsw.efConstruction = params.ef_construction
        graph = cls(index, distance)
        graph.add(embeddings)
        return graph

    @classmethod
    def from_bytes(cls, data: np.ndarray, embeddings: np.ndarray, distance: str) -> HnswGraph:
        """A graph stored by `to_bytes`, given the vectors back (the index's embeddings)."""
        reader = faiss.VectorIOReader()
        faiss.copy_array_to_vector(np.ascontiguousarray(data, dtype=np.uint8), reader.data)
        index = faiss.read_index(reader, faiss.IO_FLAG_SKIP_STORAGE)
        if index.ntotal != len(embeddings):
            raise ValueError(f"an HNSW graph of {index.ntotal} nodes for {len(embeddings)} targets")
        metric = faiss.METRIC_INNER_PRODUCT if distance == "cosine" else faiss.METRIC_L2
        storage = faiss.IndexFlat(int(embeddings.shape[1]), metric)
        storage.add(graph_vectors(embeddings, distance))
        index.storage = storage
        index.own_fields = False  # `storage` lives as long as this object
        return cls(index, distance, storage)

    def to_bytes(self) -> np.ndarray:
        """The graph without its vectors, as uint8 (faiss's own format)."""
        writer = faiss.VectorIOWriter()
        faiss.write_index(self.index, writer, faiss.IO_FLAG_SKIP_STORAGE)
        return faiss.vector_to_array(writer.data)

    @property
    def params(self) -> GraphParams:
        """The graph's M and efConstruction."""
        hnsw = self.index.hnsw
        return GraphParams(int(hnsw.nb_neighbors(1)), int(hnsw.efConstruction))

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, embeddings: np.ndarray) -> None:
        """Append `embeddings` as the next rows, on one thread (insertion in row order)."""
        with faiss_threads(1):
            self.index.add(graph_vectors(embeddings, self.distance))

    def candidates(self, queries: np.ndarray, k: int, ef_search: int = EF_SEARCH) -> np.ndarray:
        """(n, max(k, ef_search)) rows the walk found nearest to each query (-1 where it found fewer), on
        one thread."""
        ef = max(int(k), int(ef_search))
        params = faiss.SearchParametersHNSW(efSearch=ef)
        with faiss_threads(1):
            _, rows = self.index.search(graph_vectors(queries, self.distance), ef, params=params)
        return rows


@contextmanager
def faiss_threads(n: int) -> Iterator[None]:
    """faiss's OpenMP threads set to `n` inside the block, restored after it."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


Ranked = tuple[list[np.ndarray], list[np.ndarray]]  # per query: rows, then their distances, nearest first


class ExactSearch:
    """Every target ranked by its distance, ties in row order: `evaluate`'s ranking, bit for bit (the same
    DistanceMatrix; the first k of the stable order found by a partition, `stable_top_k_rows`)."""

    name = "exact"

    def __init__(self, embeddings: np.ndarray, distance: str) -> None:
        self.targets, self.distance = Targets.of(embeddings, distance), distance

    def rank(self, queries: np.ndarray, k: int) -> Ranked:
        """The k nearest targets of each query (all when fewer): rows and distances, nearest first."""
        d = DistanceMatrix(queries, self.targets, self.distance)[:]
        rows = stable_top_k_rows(d, k)
        return list(rows), list(np.take_along_axis(d, rows, axis=1))


class GraphSearch:
    """The graph's candidates ranked by their exact distances, ties in row order (a hit is a true target at
    its true distance; a target the walk missed is absent)."""

    name = "hnsw"

    def __init__(self, graph: HnswGraph, embeddings: np.ndarray, distance: str, ef_search: int = EF_SEARCH):
        self.graph, self.embeddings, self.distance, self.ef_search = graph, embeddings, distance, ef_search

    def rank(self, queries: np.ndarray, k: int) -> Ranked:
        """The k nearest candidates of each query: rows and distances, nearest first."""
        rows, dists = [], []
        for query, near in zip(queries, self.graph.candidates(queries, k, self.ef_search), strict=True):
            near = np.sort(near[near >= 0])  # increasing rows: ties in the manifest's order, as exact
            d = DistanceMatrix(query[None], self.embeddings[near], self.distance)[0]
            order = stable_argsort_rows(d[None])[0][: max(0, k)]
            rows.append(near[order])
            dists.append(d[order])
        return rows, dists
