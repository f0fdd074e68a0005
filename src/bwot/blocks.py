"""Rows in blocks of one fixed size: a row's result then does not depend on how many rows came with it.

BLAS and oneDNN choose their kernels, and with them the order of the sums, by the shape of a product:
the same row may come out of a product of 1 row and of one of 120 rows with other last bits (measured:
torch's CPU matmul for 1 or 2 rows against 4 or more; a CNN's convolutions for 1 image against 2 or
more). Computing every row in a product of exactly `block` rows, the last block padded with zero rows,
gives every row the same kernels, hence the same bits, whether it is embedded alone (a query) or among
thousands (`evaluate`). No row ever mixes with another: products and convolutions are row by row.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

BLOCK = 16  # rows: small enough that a single query pays little for its padding


def fixed_blocks(x: np.ndarray, block: int = BLOCK) -> Iterator[tuple[int, int, np.ndarray]]:
    """(first row, rows used, block) for each block of `block` rows of `x`, the last one padded with zeros
    to exactly `block` rows (only the first `rows used` rows of a block's result are real)."""
    if block < 1:
        raise ValueError(f"block must be at least 1 row, got {block}")
    for lo in range(0, len(x), block):
        part = x[lo : lo + block]
        n = len(part)
        if n < block:
            part = np.concatenate([part, np.zeros((block - n, *part.shape[1:]), dtype=part.dtype)])
        yield lo, n, part
