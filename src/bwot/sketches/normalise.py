"""Turn a located sketch into a square `size` x `size` image: crop, clean, pad, thicken, resize.

The work happens on the crop reduced by an integer factor (Pillow's box `reduce`) to a working image of
about twice the output size (64 px: 128 to 256 px; large outputs: 256 px up to twice the output), so a
1111 px sketch costs about as much as a small one. Thickening is a block
minimum instead of the box average (every stroke keeps its full darkness and at least one pixel),
then a grey erosion when that is still too thin.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image
from scipy import ndimage

from bwot.sketches.ink import Ink, block_min

WORK_SIDE = 256  # the working image is at least twice the output, or this long, or the output's size
NOISE_FLOOR_SIGMAS = 3.0  # darkness below this many noise sigmas (after reduction) becomes paper
MAX_GAIN = 4.0  # faint sketches are darkened at most this much
THICKEN = ("auto", "never", "always")


def levels_lut(ink: Ink, reduction: int, block_minimum: int = 1) -> list[int]:
    """A 256-entry table: paper -> 255, the typical ink -> 0, faint darkness below the noise -> paper.

    `reduction`: the image was box-averaged by this factor (noise / factor); `block_minimum`: it was
    reduced by taking the darkest of each block this wide instead (noise darkened by about
    sqrt(2 ln n) sigma for n pixels a block).
    """
    shift = math.sqrt(2.0 * math.log(block_minimum**2)) - 1.0 if block_minimum > 1 else 0.0
    floor = 2.0 + (NOISE_FLOOR_SIGMAS + shift) * ink.noise / reduction
    gain = min(MAX_GAIN, 255.0 / max(1.0, ink.paper - floor - ink.black))
    darkness = np.clip(ink.paper - np.arange(256) - floor, 0, None) * gain
    return (255 - np.clip(np.rint(darkness), 0, 255)).astype(np.uint8).tolist()


def square_side(box: tuple[int, int, int, int], margin: float) -> int:
    """Side (pixels) of the white square around an ink box (top, left, bottom, right) with its margin."""
    top, left, bottom, right = box
    return max(1, math.ceil(max(bottom - top, right - left) * (1.0 + 2.0 * margin)))


def thickening(ink: Ink, side: int, size: int, mode: str, min_stroke: float) -> float:
    """The stroke width (output pixels) to thicken to, or 0 for no thickening.

    'auto' thickens only strokes that would end thinner than `min_stroke`; 'always' thickens every
    sketch, by at least one output pixel.
    """
    if mode not in THICKEN:
        raise ValueError(f"thicken must be one of {THICKEN}, not {mode!r}")
    width = ink.width * size / side
    if mode == "always":
        return max(min_stroke, width + 1.0)
    if mode == "auto" and width < min_stroke:
        return min_stroke
    return 0.0


def normalise(
    gray: np.ndarray, ink: Ink, size: int, *, margin: float, thicken: str, min_stroke: float
) -> np.ndarray:
    """The ink of `gray` centred in a white square with `margin`, resized to (size, size) uint8."""
    top, left, bottom, right = ink.box
    crop = gray[top:bottom, left:right]
    if len(ink.specks):
        crop = _whiten_specks(crop, ink)
    side = square_side(ink.box, margin)
    target = thickening(ink, side, size, thicken, min_stroke)
    f = max(1, side // max(size, min(2 * size, WORK_SIDE)))
    if target > 0:
        small = Image.fromarray(block_min(np.ascontiguousarray(crop), f))
    else:
        small = Image.fromarray(np.ascontiguousarray(crop))
        small = small.reduce(f) if f > 1 else small
    small = small.point(levels_lut(ink, f, 1) if target == 0 else levels_lut(ink, 1, f))
    canvas_side = max(small.width, small.height, math.ceil(side / f))
    canvas = Image.new("L", (canvas_side, canvas_side), 255)
    canvas.paste(small, ((canvas_side - small.width) // 2, (canvas_side - small.height) // 2))
    if target > 0:
        canvas = _erode(canvas, (ink.width + f - 1) / f, target * canvas_side / size)
    return np.asarray(canvas.resize((size, size), Image.Resampling.BICUBIC))


def _whiten_specks(crop: np.ndarray, ink: Ink) -> np.ndarray:
    """A copy of `crop` with the pixels of the speck cells set to paper."""
    crop = crop.copy()
    top, left = ink.box[0], ink.box[1]
    f = ink.cell
    for r, c in ink.specks:
        y0, x0 = r * f - top, c * f - left
        crop[max(0, y0) : max(0, y0 + f), max(0, x0) : max(0, x0 + f)] = 255
    return crop


def _erode(canvas: Image.Image, width: float, target: float) -> Image.Image:
    """Grey erosion (dark strokes grow) taking strokes `width` wide to about `target` (canvas pixels)."""
    radius = round(max(0.0, target - width) / 2.0)
    if radius == 0:
        return canvas
    eroded = ndimage.grey_erosion(np.asarray(canvas), size=(2 * radius + 1, 2 * radius + 1), mode="nearest")
    return Image.fromarray(eroded)
