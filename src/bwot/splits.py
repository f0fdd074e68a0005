"""Deterministic stratified hold-out splits (validation data taken from training data only)."""

from __future__ import annotations

import numpy as np


def holdout_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (train, val), per class, `fraction` of each class to val.

    Each class keeps at least one training item; a class with one item has none in val. The result
    depends only on `labels`, `fraction` and `seed`.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        idx = idx[rng.permutation(len(idx))]
        n_val = min(round(fraction * len(idx)), len(idx) - 1)
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def shard_bounds(n: int, shard: int, shards: int) -> tuple[int, int]:
    """Rows [start, stop) of shard `shard` of `shards` over `n` rows in order: sizes differ by at most one.

    Shard i holds rows [i*n//shards, (i+1)*n//shards); with fewer rows than shards some shards are empty.
    A fixed shard count (not a size) lets the workflow know its jobs before the manifests exist.
    """
    if shards < 1:
        raise ValueError(f"shards must be >= 1, not {shards}")
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} out of range 0..{shards - 1} (shards: {shards})")
    return shard * n // shards, (shard + 1) * n // shards
