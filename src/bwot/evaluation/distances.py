"""Query x target distances as `evaluate` and `bwot query` compute them: the same bits for a row whether
its query is ranked alone or among thousands."""

from __future__ import annotations

from typing import Any

import numpy as np

from bwot.tiles import TILE_ROWS, fixed_tiles

DISTANCES = ("euclidean", "cosine")


class DistanceMatrix:
    """Query x target distances, computed a tile of rows at a time when sliced (`d[lo:hi]`).

    Euclidean, or cosine (1 - cosine similarity); float64 arithmetic (||a||^2 + ||b||^2 - 2ab, clipped
    at 0), float32 results. Never held whole: all_rotations on SHREC14 would be 102600 x 8987 (3.7 GB).
    Rows are computed in tiles of exactly `tile_rows` query rows (bwot.tiles, the last padded): a row's
    distances are the same bits whether its query is ranked alone (`bwot query`) or with all the others.
    With `columns` (the column of each embedded target in a list of `width` targets), the targets that
    have no embedding (skipped upstream) get distance +inf: ranked last, in list order (stable sort).
    """

    def __init__(
        self,
        queries: np.ndarray,
        targets: np.ndarray,
        kind: str = "euclidean",
        tile_rows: int = TILE_ROWS,
        *,
        columns: np.ndarray | None = None,
        width: int | None = None,
    ):
        if kind not in DISTANCES:
            raise ValueError(f"unknown distance {kind!r} (expected one of {', '.join(DISTANCES)})")
        self.kind, self.tile_rows = kind, tile_rows
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
        for lo, n, a in fixed_tiles(self.a[index], self.tile_rows):
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
