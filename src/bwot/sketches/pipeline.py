"""One sketch file -> its rotated, normalised copies: decode, find the ink, normalise, rotate."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from bwot.sketches.decode import load_grayscale
from bwot.sketches.errors import SketchError
from bwot.sketches.ink import NoInkError, find_ink
from bwot.sketches.normalise import THICKEN, normalise
from bwot.sketches.rotate import rotations


@dataclass(frozen=True)
class SketchConfig:
    """The `sketches:` section of the config (defaults as in config/schema.yaml)."""

    size: int = 64
    rotations: int = 20
    step_deg: float = 18.0
    shards: int = 2
    margin: float = 0.05
    thicken: str = "auto"
    min_stroke: float = 2.0
    on_bad_sketch: str = "error"
    compression: str = "gzip"

    def __post_init__(self) -> None:
        if self.thicken not in THICKEN:
            raise ValueError(f"sketches.thicken must be one of {THICKEN}, not {self.thicken!r}")
        if self.on_bad_sketch not in ("error", "skip"):
            raise ValueError(f"sketches.on_bad_sketch must be error or skip, not {self.on_bad_sketch!r}")
        if self.compression not in ("gzip", "lzf", "none"):
            raise ValueError(f"sketches.compression must be gzip, lzf or none, not {self.compression!r}")

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> SketchConfig:
        """Build from a config mapping; unknown keys are an error (a misspelt key never goes unnoticed)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"unknown sketches config key(s): {', '.join(unknown)}")
        return cls(**dict(cfg))


def normalise_gray(gray: np.ndarray, cfg: SketchConfig) -> np.ndarray:
    """A decoded (H, W) uint8 sketch -> (size, size) uint8, ink dark on white, cropped and centred."""
    ink = find_ink(gray)
    return normalise(gray, ink, cfg.size, margin=cfg.margin, thicken=cfg.thicken, min_stroke=cfg.min_stroke)


def preprocess_sketch(path: str | os.PathLike[str], cfg: SketchConfig) -> np.ndarray:
    """The sketch file at `path` as (rotations, size, size) uint8; SketchError names the file and reason."""
    gray = load_grayscale(path, min_side=2 * cfg.size)
    try:
        image = normalise_gray(gray, cfg)
    except NoInkError as err:
        raise SketchError(str(path), str(err)) from err
    return rotations(image, cfg.rotations, cfg.step_deg)
