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

PAPER = 250  # a view's pixel lighter than this is paper (the renderer's background is exactly 255)
CREASE = 160.0  # Sobel magnitude (grey levels x 4) above which a jump in the shading is a line


def line_drawing(
    view: np.ndarray, *, width: int = 2, margin: float = 0.05, crease: float = CREASE
) -> np.ndarray:
    """One (H, W) uint8 view -> its line drawing, (H, W) uint8, black lines on white, framed to the lines."""
    grey = view.astype(np.float32)
    solid = grey < PAPER
    if not solid.any():
        return np.full_like(view, 255)
    outline = solid & ~ndimage.binary_erosion(solid, border_value=0)
    jump = np.hypot(ndimage.sobel(grey, 0), ndimage.sobel(grey, 1))
    lines = outline | (solid & (jump > crease))
    if width > 1:
        lines = ndimage.binary_dilation(lines, iterations=width - 1)
    return _frame(np.where(lines, 0, 255).astype(np.uint8), lines, margin)


def line_drawings(planes: np.ndarray) -> np.ndarray:
    """(..., H, W) uint8 views -> their line drawings, same shape."""
    flat = planes.reshape(-1, *planes.shape[-2:])
    return np.stack([line_drawing(v) for v in flat]).reshape(planes.shape)


def _frame(image: np.ndarray, ink: np.ndarray, margin: float) -> np.ndarray:
    """Crop to the ink's bounding box, pad to a centred white square with `margin`, resize back."""
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    side = int(np.ceil(max(bottom - top, right - left) * (1.0 + 2.0 * margin)))
    square = np.full((side, side), 255, np.uint8)
    y, x = (side - (bottom - top)) // 2, (side - (right - left)) // 2
    square[y : y + bottom - top, x : x + right - left] = image[top:bottom, left:right]
    size = image.shape[::-1]
    return np.asarray(Image.fromarray(square).resize(size, Image.Resampling.BILINEAR))
