"""Rows in tiles of one fixed size: a row's result then does not depend on how many rows came with it.

BLAS and oneDNN choose their kernels, and with them the order of the sums, by the shape of a product:
the same row may come out of a product of 1 row and of one of 120 rows with other last bits (measured:
torch's CPU matmul for 1 or 2 rows against 4 or more; a CNN's convolutions for 1 image against 2 or
more). Computing every row in a product of exactly `rows` rows, the last tile padded with zero rows,
gives every row the same kernels, hence the same bits, whether it is embedded alone (a query) or among
thousands (`evaluate`). No row ever mixes with another: products and convolutions are row by row.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

TILE_ROWS = 16  # small enough that a single query pays little for its padding


def fixed_tiles(x: np.ndarray, rows: int = TILE_ROWS) -> Iterator[tuple[int, int, np.ndarray]]:
    """(first row, rows used, tile) for each tile of `rows` rows of `x`, the last one padded with zeros
    to exactly `rows` rows (only the first `rows used` rows of a tile's result are real)."""
    if rows < 1:
        raise ValueError(f"a tile must have at least 1 row, got {rows}")
    for lo in range(0, len(x), rows):
        part = x[lo : lo + rows]
        n = len(part)
        if n < rows:
            part = np.concatenate([part, np.zeros((rows - n, *part.shape[1:]), dtype=part.dtype)])
        yield lo, n, part
