"""One sketch file -> its rotated, normalised copies: decode, find the ink, normalise, rotate."""

from __future__ import annotations

import os

import numpy as np

from bwot.config import SketchesConfig
from bwot.sketches.decode import load_grayscale
from bwot.sketches.errors import SketchError
from bwot.sketches.ink import NoInkError, find_ink
from bwot.sketches.normalise import normalise
from bwot.sketches.rotate import rotations

MIN_SIDE = 16  # pixels: a smaller image holds no readable sketch (the ink finder's statistics need more)


def normalise_gray(gray: np.ndarray, cfg: SketchesConfig) -> np.ndarray:
    """A decoded (H, W) uint8 sketch -> (size, size) uint8, ink dark on white, cropped and centred."""
    if min(gray.shape) < MIN_SIDE:
        h, w = gray.shape
        raise NoInkError(f"image too small for a sketch ({w}x{h} pixels; at least {MIN_SIDE} a side)")
    ink = find_ink(gray)
    return normalise(gray, ink, cfg.size, margin=cfg.margin, thicken=cfg.thicken, min_stroke=cfg.min_stroke)


def preprocess_gray(gray: np.ndarray, cfg: SketchesConfig, where: str | os.PathLike[str]) -> np.ndarray:
    """A decoded (H, W) uint8 sketch as (rotations, size, size) uint8; SketchError naming `where` (the
    file, or what the image came from) when it has no ink."""
    try:
        image = normalise_gray(gray, cfg)
    except NoInkError as err:
        raise SketchError(str(where), str(err)) from err
    return rotations(image, cfg.rotations, cfg.step_deg)


def preprocess_sketch(path: str | os.PathLike[str], cfg: SketchesConfig) -> np.ndarray:
    """The sketch file at `path` as (rotations, size, size) uint8; SketchError names the file and reason."""
    return preprocess_gray(load_grayscale(path, min_side=2 * cfg.size), cfg, path)
