"""Query x target distances as `evaluate` and `bwot query` compute them: the same bits for a row whether
its query is ranked alone or among thousands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bwot.tiles import TILE_ROWS, fixed_tiles

DISTANCES = ("euclidean", "cosine")
COLUMN_BLOCK = 1 << 16  # targets a product takes at most: a tile's float64 temporaries stay ~10 MB each


@dataclass(frozen=True)
class Targets:
    """The target side of a DistanceMatrix, prepared once: float64 rows (unit length for cosine) and their
    squared norms. A query server keeps one and ranks every query against it."""

    b: np.ndarray
    bb: np.ndarray
    kind: str

    @classmethod
    def of(cls, targets: np.ndarray, kind: str = "euclidean") -> Targets:
        """Prepare (n, d) target embeddings for the distance `kind`."""
        if kind not in DISTANCES:
            raise ValueError(f"unknown distance {kind!r} (expected one of {', '.join(DISTANCES)})")
        b = _unit(np.asarray(targets, np.float64)) if kind == "cosine" else np.asarray(targets, np.float64)
        return cls(b, (b**2).sum(axis=1), kind)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class DistanceMatrix:
    """Query x target distances, computed a tile of rows at a time when sliced (`d[lo:hi]`).

    Euclidean, or cosine (1 - cosine similarity); float64 arithmetic (||a||^2 + ||b||^2 - 2ab, clipped
    at 0), float32 results. Never held whole: all_rotations on SHREC14 would be 102600 x 8987 (3.7 GB).
    Rows are computed in tiles of exactly `tile_rows` query rows (bwot.tiles, the last padded): a row's
    distances are the same bits whether its query is ranked alone (`bwot query`) or with all the others.
    With `columns` (the column of each embedded target in a list of `width` targets), the targets that
    have no embedding (skipped upstream) get distance +inf: ranked last, in list order (stable sort).
    `targets` may be prepared once (`Targets.of`). More than `COLUMN_BLOCK` targets are taken
    `COLUMN_BLOCK` at a time, so a tile's temporaries stay bounded (a query against 1,000,000 targets);
    at most that many (every SHREC size) the product is one, as it always was.
    """

    def __init__(
        self,
        queries: np.ndarray,
        targets: np.ndarray | Targets,
        kind: str = "euclidean",
        tile_rows: int = TILE_ROWS,
        *,
        columns: np.ndarray | None = None,
        width: int | None = None,
    ):
        prepared = targets if isinstance(targets, Targets) else Targets.of(targets, kind)
        if prepared.kind != kind:
            raise ValueError(f"targets prepared for the {prepared.kind} distance, asked for {kind}")
        self.kind, self.tile_rows = kind, tile_rows
        self.columns = None if columns is None or len(columns) == width else np.asarray(columns)
        self.a = np.asarray(queries, np.float64)
        if kind == "cosine":
            self.a = _unit(self.a)
        self.b, self.bb = prepared.b, prepared.bb
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
        for lo, n, a in fixed_tiles(self.a[index], self.tile_rows):
            starts = range(0, max(len(self.b), 1), COLUMN_BLOCK)  # one (empty) block without targets
            d = np.concatenate([self._tile(a, c, c + COLUMN_BLOCK) for c in starts], axis=1)
            if self.columns is None:
                out[lo : lo + n] = d[:n]
            else:
                out[lo : lo + n] = np.inf
                out[lo : lo + n, self.columns] = d[:n]
        return out

    def _tile(self, a: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """float32 distances of a tile of query rows to the targets lo:hi."""
        b, bb = self.b[lo:hi], self.bb[lo:hi]
        if self.kind == "cosine":
            return (1.0 - a @ b.T).astype(np.float32)
        d = (a**2).sum(axis=1)[:, None] + bb[None, :] - 2.0 * a @ b.T
        return np.sqrt(np.maximum(d, 0.0, out=d), out=d).astype(np.float32)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype)


def pairwise_distances(a: np.ndarray, b: np.ndarray, kind: str = "euclidean") -> np.ndarray:
    """The whole (len(a), len(b)) float32 distance matrix (see DistanceMatrix)."""
    return DistanceMatrix(a, b, kind)[:]
