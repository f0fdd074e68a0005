"""Rendered views as line drawings, so that a shape looks like what people draw of it.

A sketch is a line drawing, framed to its ink: the sketch stage crops it to its ink's bounding box with a
margin. A shaded view is neither. `line_drawing` turns a view (grey shading, ink dark on white) into the
lines a draughtsman draws — the silhouette (the outline of the object against the paper) and the creases
(where the shading jumps: faces meeting at an angle, and occluding contours inside the outline) — drawn
`width` pixels wide, then framed as the sketch stage frames a sketch (the lines' bounding box plus a
margin, padded to a square, resized to the view's size). The features stage uses it for the shape CNN
(`features.view_style: lines`) and as extra training images of the sketch CNN (`features.sketch_views`).
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from bwot.sketches.normalise import square_side

PAPER = 250  # a view's pixel lighter than this is paper (the renderer's background is exactly 255)
CREASE = 160.0  # Sobel magnitude (grey levels x 4) above which a jump in the shading is a line


def line_drawing(
    view: np.ndarray, *, size: int | None = None, width: int = 2, margin: float = 0.05, crease: float = CREASE
) -> np.ndarray:
    """One (H, W) uint8 view -> its line drawing, black lines on white, framed to the lines.

    The drawing is (size, size) uint8, or the view's (H, W) when `size` is None: a sketch CNN whose
    sketches are smaller or larger than the rendered views gets line drawings at its sketches' size.
    """
    shape = view.shape if size is None else (size, size)
    grey = view.astype(np.float32)
    solid = grey < PAPER
    if not solid.any():
        return np.full(shape, 255, np.uint8)
    outline = solid & ~ndimage.binary_erosion(solid, border_value=0)
    jump = np.hypot(ndimage.sobel(grey, 0), ndimage.sobel(grey, 1))
    lines = outline | (solid & (jump > crease))
    if width > 1:
        lines = ndimage.binary_dilation(lines, iterations=width - 1)
    return _frame(np.where(lines, 0, 255).astype(np.uint8), lines, margin, shape)


def line_drawings(planes: np.ndarray, size: int | None = None) -> np.ndarray:
    """(..., H, W) uint8 views -> their line drawings, (..., size, size) (or (..., H, W) when None)."""
    flat = planes.reshape(-1, *planes.shape[-2:])
    drawings = np.stack([line_drawing(v, size=size) for v in flat])
    return drawings.reshape(*planes.shape[:-2], *drawings.shape[-2:])


def _frame(image: np.ndarray, ink: np.ndarray, margin: float, shape: tuple[int, ...]) -> np.ndarray:
    """Crop to the ink's bounding box, pad to a centred white square with `margin`, resize to `shape`."""
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    side = square_side((top, left, bottom, right), margin)
    square = np.full((side, side), 255, np.uint8)
    y, x = (side - (bottom - top)) // 2, (side - (right - left)) // 2
    square[y : y + bottom - top, x : x + right - left] = image[top:bottom, left:right]
    return np.asarray(Image.fromarray(square).resize(shape[::-1], Image.Resampling.BILINEAR))
