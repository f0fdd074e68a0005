"""Find the ink of a sketch: paper level, threshold, specks, bounding box and stroke width.

The statistics come from a strided sample of the pixels; the ink mask lives on a grid of about
`ANALYSIS_SIDE` cells a side whose cell is the *darkest* pixel of its block, so "the block holds an ink
pixel" is exact at any reduction: no faint one-pixel stroke is averaged away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

ANALYSIS_SIDE = 256  # cells along the longer side of the analysis grid
MIN_CONTRAST = 24  # grey levels below the paper that always count as ink (no noise)
NOISE_SIGMAS = 5.0  # with paper noise: ink is at least this many noise sigmas below the paper
MAX_NOISE = 16.0  # a noise estimate above this (grey levels) comes from ink, not paper
SPECK_CELLS = 4  # a group of at most this many ink cells ...
ISOLATION_CELLS = 3  # ... with no other ink within this many cells is a speck


class NoInkError(ValueError):
    """The image holds no ink (blank, or only isolated specks)."""


@dataclass(frozen=True)
class Ink:
    """Where the ink of a sketch is and what it looks like (full-resolution pixels)."""

    paper: float  # grey level of the paper
    noise: float  # standard deviation of the paper's grey level
    threshold: int  # pixels darker than this (<) are ink
    black: float  # grey level of a typical ink pixel
    box: tuple[int, int, int, int]  # top, left, bottom, right (exclusive)
    width: float  # estimated stroke width
    cell: int  # side of an analysis cell
    specks: np.ndarray  # (k, 2) row, column of the analysis cells removed as specks


def block_min(gray: np.ndarray, f: int) -> np.ndarray:
    """The darkest pixel of every f x f block (partial blocks at the edges included)."""
    if f == 1:
        return gray
    rows = gray[0::f].copy()
    for i in range(1, f):
        part = gray[i::f]
        np.minimum(rows[: len(part)], part, out=rows[: len(part)])
    out = rows[:, 0::f].copy()
    for i in range(1, f):
        part = rows[:, i::f]
        np.minimum(out[:, : part.shape[1]], part, out=out[:, : part.shape[1]])
    return out


def paper_statistics(gray: np.ndarray, stride: int) -> tuple[float, float, int]:
    """(paper level, noise sigma, ink threshold) from the grey-level histogram of a strided sample."""
    sample = gray[stride // 2 :: stride, stride // 2 :: stride]
    cdf = np.cumsum(np.bincount(sample.ravel(), minlength=256))

    def pct(q: float) -> int:
        return int(np.searchsorted(cdf, q * cdf[-1]))

    # Paper: the upper quartile (ink rarely covers a quarter of a sketch). Noise: from the spread
    # between the median and the lower quartile, which clipping at 255 leaves intact.
    paper = float(pct(0.75))
    noise = min((pct(0.5) - pct(0.25)) / 0.674, MAX_NOISE)
    threshold = math.floor(paper - max(MIN_CONTRAST, NOISE_SIGMAS * noise))
    return paper, noise, threshold


def find_ink(gray: np.ndarray) -> Ink:
    """Locate the ink of a (H, W) uint8 sketch; raise NoInkError when there is none."""
    h, w = gray.shape
    f = max(1, max(h, w) // ANALYSIS_SIDE)
    paper, noise, threshold = paper_statistics(gray, f)
    if threshold <= 0:
        raise NoInkError(
            f"no paper found (three quarters of the image are at grey level {paper:.0f} or darker: "
            "a dark or uniform image)"
        )
    cells = block_min(gray, f)
    mask = cells < threshold
    if not mask.any():
        raise NoInkError(f"no ink (nothing darker than {threshold}; paper {paper:.0f}, darkest {gray.min()})")
    mask, specks = remove_specks(mask)
    if not mask.any():
        raise NoInkError(f"no ink (only {len(specks)} isolated specks darker than {threshold})")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    box = (
        int(rows[0]) * f,
        int(cols[0]) * f,
        min(h, (int(rows[-1]) + 1) * f),
        min(w, (int(cols[-1]) + 1) * f),
    )
    black = lower_quartile(cells[mask])
    return Ink(paper, noise, threshold, black, box, stroke_width(gray, box, threshold, f), f, specks)


def remove_specks(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop groups of <= SPECK_CELLS ink cells that have no other ink within ISOLATION_CELLS.

    Returns the cleaned mask and the (row, column) of the removed cells. The groups are labelled on the
    bounding box of the ink only (outside it there is nothing to label or to find nearby).
    """
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return mask, np.empty((0, 2), dtype=np.intp)
    top, left = int(rows[0]), int(cols[0])
    sub = mask[top : int(rows[-1]) + 1, left : int(cols[-1]) + 1]
    labels, _ = ndimage.label(sub, structure=np.ones((3, 3), dtype=bool))
    counts = np.bincount(labels.ravel())
    small = np.flatnonzero(counts[1:] <= SPECK_CELLS) + 1
    if not len(small):
        return mask, np.empty((0, 2), dtype=np.intp)
    boxes = ndimage.find_objects(labels)
    pad = ISOLATION_CELLS
    specks = []
    for label in small:
        box_rows, box_cols = boxes[label - 1]
        around = (
            slice(max(0, box_rows.start - pad), box_rows.stop + pad),
            slice(max(0, box_cols.start - pad), box_cols.stop + pad),
        )
        if np.count_nonzero(sub[around]) == counts[label]:  # nothing else nearby
            cells = np.argwhere(labels[boxes[label - 1]] == label)
            specks.append(cells + np.array([box_rows.start, box_cols.start]))
    if not specks:
        return mask, np.empty((0, 2), dtype=np.intp)
    cells = np.concatenate(specks) + np.array([top, left])
    mask = mask.copy()
    mask[cells[:, 0], cells[:, 1]] = False
    return mask, cells


def lower_quartile(values: np.ndarray) -> float:
    """np.percentile(values, 25) (linear interpolation) of a non-empty array, without its overhead.

    The virtual index n / 4 - 1 / 4 has a fraction of 0, 1/4, 1/2 or 3/4, so the interpolation between
    two grey levels is exact in floating point, as numpy's is: the result is the same number.
    """
    ordered = np.sort(values.ravel(), kind="stable")  # radix sort for 8-bit values
    n = len(ordered)
    position = n * 0.25 - 0.25
    below = math.floor(position)
    low, high = float(ordered[below]), float(ordered[min(below + 1, n - 1)])
    return low + (high - low) * (position - below)


def stroke_width(gray: np.ndarray, box: tuple[int, int, int, int], threshold: int, stride: int) -> float:
    """Mean stroke width (pixels) inside `box`, as 2 * area / length of the thresholded ink.

    Area and the ink/paper boundary are counted on every `stride`-th row and column (unbiased); the
    boundary, counted along rows and columns, over-measures a curve of random direction by 4/pi.
    """
    top, left, bottom, right = box
    crop = gray[top:bottom, left:right]
    rows = crop[::stride] < threshold
    cols = crop[:, ::stride] < threshold
    area = np.count_nonzero(rows) * stride
    edges = (np.count_nonzero(rows[:, 1:] != rows[:, :-1]) + np.count_nonzero(cols[1:] != cols[:-1])) * stride
    edges += 2 * (np.count_nonzero(rows[:, [0, -1]]) + np.count_nonzero(cols[[0, -1]])) * stride
    if edges == 0:
        return float(max(bottom - top, right - left))
    return 2.0 * area / (edges * math.pi / 4.0)
