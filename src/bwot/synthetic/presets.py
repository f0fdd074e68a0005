"""Benchmark presets, the class list of a preset, and the (deliberately uneven) class sizes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bwot.synthetic.shapes import CATALOGUE, Builder

VARIANT_SALT = 7121  # variants are fixed shapes of a class, the same for every seed


# Models per class of the official SHREC'14 target set, in the order of SHREC14_SBR_Model.cla (airplane 314,
# ant 2, ..., 8987 in all): the shrec14-scale preset's classes have these sizes. Every SHREC'14 class has 50
# training and 30 test sketches (SHREC14_SBR_Sketch_Train.cla, SHREC14_SBR_Sketch_Test.cla).
# fmt: off
SHREC14_MODELS = (
    314, 2, 57, 13, 333, 6, 24, 11, 7, 8, 1, 31, 12, 169, 11, 20, 53, 102, 15, 39, 202, 6, 12, 2,
    20, 128, 18, 18, 208, 1, 5, 7, 14, 20, 51, 25, 170, 632, 2, 27, 8, 45, 131, 22, 30, 4, 35, 2,
    38, 43, 98, 4, 15, 7, 3, 5, 92, 98, 37, 1, 204, 108, 74, 94, 31, 7, 5, 1, 5, 185, 22, 93,
    31, 189, 162, 30, 96, 10, 23, 104, 5, 12, 4, 7, 142, 152, 17, 188, 18, 20, 4, 1, 18, 10, 12, 4,
    172, 8, 9, 25, 1, 13, 1, 1, 11, 27, 1, 10, 9, 137, 14, 13, 5, 169, 5, 8, 60, 47, 19, 53,
    14, 3, 4, 12, 3, 13, 34, 3, 106, 21, 19, 10, 24, 25, 34, 6, 29, 60, 78, 83, 3, 46, 10, 17,
    245, 5, 601, 90, 17, 4, 20, 61, 1, 9, 5, 27, 4, 7, 175, 224, 52, 32, 14, 1, 78, 59, 106, 4,
    12, 34, 23,
)
# fmt: on


@dataclass(frozen=True)
class Preset:
    """How big a benchmark is: classes, models per class, sketches per class and split, and its layout."""

    name: str
    classes: int
    min_models: int  # sizes spread geometrically from min_models to max_models, shuffled by the seed ...
    max_models: int
    train_sketches: int
    test_sketches: int
    sizes: tuple[int, ...] | None = None  # ... unless given class by class
    layout: str = "shrec13"  # the folder layout written: shrec13 or shrec14 (bwot.datasets.layouts)


PRESETS: dict[str, Preset] = {
    # ~175 models, 360 sketches: the whole default pipeline fits in ~15 min on 2 CPU cores
    "default": Preset("default", 12, 8, 24, 20, 10),
    # SHREC'14: its 171 class sizes (1..632 models, 8987 in all), 50 + 30 sketches a class, its layout
    "shrec14-scale": Preset("shrec14-scale", 171, 1, 632, 50, 30, SHREC14_MODELS, "shrec14"),
    # for pretraining backbones (features.weights): SHREC14's 171 classes, 16 models and 40 sketches each
    "pretrain": Preset("pretrain", 171, 16, 16, 30, 10),
}


def get_preset(preset: str | Preset) -> Preset:
    """A preset by name (or the given Preset itself)."""
    if isinstance(preset, Preset):
        return preset
    if preset not in PRESETS:
        raise ValueError(f"synthetic benchmark: unknown preset '{preset}' (choose from {', '.join(PRESETS)})")
    return PRESETS[preset]


@dataclass(frozen=True)
class ClassSpec:
    """One class of a generated benchmark: its name, builder and (for derived classes) variant vector."""

    name: str
    base: str  # the catalogue class it is built by
    builder: Builder
    variant: np.ndarray | None


def class_specs(preset: Preset, classes: int | None = None) -> list[ClassSpec]:
    """The first `classes` classes of a preset (all of them when None).

    The catalogue's classes come first, most distinct first; beyond them (shrec14-scale) each builder is
    reused with fixed variant vectors (`chair_2`, `chair_3`, ...) that narrow its parameter ranges and fix
    its optional parts, so derived classes differ from each other.
    """
    n = preset.classes if classes is None else classes
    if n < 2:
        raise ValueError(f"synthetic benchmark: need at least 2 classes, got {n}")
    limit = max(preset.classes, len(CATALOGUE))  # derived classes only where the preset has them
    if n > limit:
        hint = " (use preset shrec14-scale for more)" if preset.classes <= len(CATALOGUE) else ""
        kind = "distinct classes" if hint else "classes"
        raise ValueError(f"synthetic benchmark: preset '{preset.name}' has {limit} {kind}, {n} asked{hint}")
    names = list(CATALOGUE)
    specs = []
    for k in range(n):
        base, round_ = names[k % len(names)], k // len(names)
        variant = None if round_ == 0 else np.random.default_rng([VARIANT_SALT, k]).random(48)
        name = base if round_ == 0 else f"{base}_{round_ + 1}"
        specs.append(ClassSpec(name, base, CATALOGUE[base], variant))
    return specs


def class_sizes(preset: Preset, classes: int, seed: int) -> list[int]:
    """Models per class for the first `classes` classes: the preset's own sizes in order, or uneven sizes
    spread from min_models to max_models and shuffled by the seed."""
    if preset.sizes is not None:
        return list(preset.sizes[:classes])
    rng = np.random.default_rng([seed, 3])
    sizes = np.rint(preset.min_models * (preset.max_models / preset.min_models) ** np.linspace(0, 1, classes))
    return [int(s) for s in rng.permutation(sizes.astype(np.int64))]


def scaled(count: int, scale: float) -> int:
    """A class's count at a fraction `scale` of the preset's size: rounded half up, one at least."""
    if not 0 < scale <= 1:
        raise ValueError(f"synthetic benchmark: scale must be in (0, 1], got {scale}")
    return max(1, math.floor(count * scale + 0.5))


def class_counts(preset: Preset, classes: int, seed: int, scale: float = 1.0) -> dict[str, list[int]]:
    """Items per class of each kind (model, train, test) at a fraction `scale` of every class's size."""
    counts = {
        "model": class_sizes(preset, classes, seed),
        "train": [preset.train_sketches] * classes,
        "test": [preset.test_sketches] * classes,
    }
    return {kind: [scaled(n, scale) for n in ns] for kind, ns in counts.items()}
