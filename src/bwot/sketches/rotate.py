"""Rotated copies of a square image about its centre, filled white, in one sparse matrix product.

Rotation k turns the image counter-clockwise (as displayed) by k * step degrees, like Pillow's
`Image.rotate(k * step)`. Each output pixel is the bilinear interpolation of the input at the rotated
position; the part of the four neighbours that falls outside the image is paper (255). The table for a
(size, rotations, step) is built once and cached: one product per sketch rotates it every way at once.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import sparse

PAPER = 255.0


@lru_cache(maxsize=8)
def rotation_table(size: int, rotations: int, step_deg: float) -> tuple[sparse.csr_matrix, np.ndarray]:
    """(M, bias) with rotated.ravel() = M @ image.ravel() + bias; M has rotations * size**2 rows."""
    centre = size / 2.0
    ys, xs = np.mgrid[0:size, 0:size]
    u = (xs + 0.5 - centre).ravel()  # maths axes: x right, y up
    v = (centre - ys - 0.5).ravel()
    rows, cols, weights = [], [], []
    n = size * size
    for k in range(rotations):
        theta = np.deg2rad(k * step_deg)
        cos, sin = np.cos(theta), np.sin(theta)
        # Output (u, v) shows the input at the point rotated back by theta.
        xs_src = centre + u * cos + v * sin - 0.5
        ys_src = centre - (-u * sin + v * cos) - 0.5
        x0, y0 = np.floor(xs_src), np.floor(ys_src)
        wx, wy = xs_src - x0, ys_src - y0
        for dy, dx, w in (
            (0, 0, (1 - wy) * (1 - wx)),
            (0, 1, (1 - wy) * wx),
            (1, 0, wy * (1 - wx)),
            (1, 1, wy * wx),
        ):
            x, y = x0 + dx, y0 + dy
            inside = (x >= 0) & (x < size) & (y >= 0) & (y < size) & (w > 1e-9)
            rows.append(k * n + np.flatnonzero(inside))
            cols.append((y[inside] * size + x[inside]).astype(np.int64))
            weights.append(w[inside])
    matrix = sparse.csr_matrix(
        (np.concatenate(weights).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
        shape=(rotations * n, n),
    )
    matrix.sort_indices()
    bias = (PAPER * (1.0 - np.asarray(matrix.sum(axis=1)).ravel())).astype(np.float32)
    return matrix, bias


def rotations(image: np.ndarray, count: int, step_deg: float) -> np.ndarray:
    """(count, S, S) uint8: `image` (S, S) turned by 0, step, 2 step, ... degrees, corners white.

    When the copies make a full turn in a multiple of 4 steps (20 x 18 degrees), only the first quarter
    is interpolated: a quarter turn maps the pixel grid onto itself, so copy k + count/4 is exactly copy
    k turned by np.rot90.
    """
    size = image.shape[0]
    if image.shape != (size, size):
        raise ValueError(f"rotations need a square image, got {image.shape}")
    quarter = count // 4 if count % 4 == 0 and abs(count * step_deg - 360.0) < 1e-9 else count
    matrix, bias = rotation_table(size, quarter, float(step_deg))
    flat = matrix @ image.ravel().astype(np.float32)
    flat += bias  # a convex mix of grey levels and paper: already within 0..255
    first = np.rint(flat, out=flat).astype(np.uint8).reshape(quarter, size, size)
    if quarter == count:
        return first
    out = np.empty((count, size, size), dtype=np.uint8)
    for turn in range(4):
        out[turn * quarter : (turn + 1) * quarter] = np.rot90(first, turn, axes=(1, 2))
    return out
