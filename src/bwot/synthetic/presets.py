"""Benchmark presets, the class list of a preset, and the (deliberately uneven) class sizes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import erfinv

from bwot.synthetic.shapes import CATALOGUE, Builder

VARIANT_SALT = 7121  # variants are fixed shapes of a class, the same for every seed


@dataclass(frozen=True)
class Preset:
    """How big a benchmark is: classes, models per class, sketches per class and split."""

    name: str
    classes: int
    min_models: int
    max_models: int
    total_models: int | None  # exact total (heavy-tailed sizes) or None (geometric spread min..max)
    train_sketches: int
    test_sketches: int


PRESETS: dict[str, Preset] = {
    # ~175 models, 360 sketches: the whole default pipeline fits in ~15 min on 2 CPU cores
    "default": Preset("default", 12, 8, 24, None, 20, 10),
    # SHREC14's size: 171 classes, 8987 models (1..632 a class), 8550 train + 5130 test sketches
    "shrec14-scale": Preset("shrec14-scale", 171, 1, 632, 8987, 50, 30),
    # for pretraining backbones (features.weights): SHREC14's 171 classes, 16 models and 40 sketches each
    "pretrain": Preset("pretrain", 171, 16, 16, 2736, 30, 10),
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
    if preset.total_models is None and n > len(CATALOGUE):
        raise ValueError(
            f"synthetic benchmark: preset '{preset.name}' has {len(CATALOGUE)} distinct classes, "
            f"{n} asked (use preset shrec14-scale for more)"
        )
    if n > preset.classes and preset.total_models is not None:
        raise ValueError(
            f"synthetic benchmark: preset '{preset.name}' has {preset.classes} classes, {n} asked"
        )
    names = list(CATALOGUE)
    specs = []
    for k in range(n):
        base, round_ = names[k % len(names)], k // len(names)
        variant = None if round_ == 0 else np.random.default_rng([VARIANT_SALT, k]).random(48)
        name = base if round_ == 0 else f"{base}_{round_ + 1}"
        specs.append(ClassSpec(name, base, CATALOGUE[base], variant))
    return specs


def class_sizes(preset: Preset, classes: int, seed: int) -> list[int]:
    """Models per class, uneven like SHREC's and shuffled by the seed, for the first `classes` classes."""
    rng = np.random.default_rng([seed, 3])
    if preset.total_models is None:
        sizes = np.rint(
            preset.min_models * (preset.max_models / preset.min_models) ** np.linspace(0, 1, classes)
        )
        return [int(s) for s in rng.permutation(sizes.astype(np.int64))]
    sizes = heavy_tailed_sizes(preset.classes, preset.total_models, preset.min_models, preset.max_models)
    return [int(s) for s in rng.permutation(sizes)[:classes]]


def heavy_tailed_sizes(classes: int, total: int, smallest: int, largest: int) -> np.ndarray:
    """Log-normal-shaped sizes with exactly the given total, smallest and largest, in decreasing order.

    Sizes are the quantiles of a log-normal, clipped to [smallest, largest]: with SHREC14's numbers
    (171 classes, 8987 models, 1..632) the quartiles are 5, 16, 48 (SHREC14: 7, 19, 58).
    """
    q = (np.arange(classes, 0, -1) - 0.5) / classes
    z = np.sqrt(2) * erfinv(2 * q - 1)
    sigma = 1.4 * np.log(largest / smallest) / (z[0] - z[-1])
    lo, hi = np.log(smallest) - 5 * sigma, np.log(largest) + 5 * sigma
    for _ in range(80):  # the median whose clipped sizes sum to `total`
        mu = (lo + hi) / 2
        s = np.clip(np.exp(mu + sigma * z), smallest, largest)
        lo, hi = (lo, mu) if s.sum() > total else (mu, hi)
    sizes = np.clip(np.rint(np.exp(mu + sigma * z)), smallest, largest).astype(np.int64)
    sizes[0], sizes[-1] = largest, smallest
    k = 0
    while (diff := total - int(sizes.sum())) != 0:  # settle rounding on the middle classes
        j = 1 + (k % (classes - 2))
        step = 1 if diff > 0 else -1
        if smallest <= sizes[j] + step <= largest:
            sizes[j] += step
        k += 1
    return sizes
