"""Confidence intervals and paired differences (bwot.evaluation.bootstrap): known cases and rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bwot.evaluation.bootstrap import load_values, per_sketch, stratified_counts, summarize
from bwot.evaluation.metrics import METRICS

M = len(METRICS)


def test_all_equal_values_give_a_zero_width_interval():
    labels = np.repeat(np.arange(4), 5)
    values = {"ot": np.full((1, 20, M), 0.7), "contrastive": np.full((3, 20, M), 0.4)}
    intervals, diffs = summarize(values, labels, reference="ot", n_boot=300)
    for loss, expected in (("ot", 0.7), ("contrastive", 0.4)):
        for metric in METRICS:
            iv = intervals[loss][metric]
            assert iv.mean == pytest.approx(expected) and iv.high - iv.low < 1e-12
            assert iv.low <= iv.mean + 1e-12 and iv.mean <= iv.high + 1e-12
    d = diffs["contrastive"]["mAP"]
    assert d.mean == pytest.approx(-0.3) and d.high - d.low < 1e-12 and d.significant
    assert np.isnan(intervals["ot"]["mAP"].seed_std) and intervals["contrastive"]["mAP"].seed_std == 0


def test_stratified_counts_keep_every_class_size():
    labels = np.array([0, 0, 0, 1, 2, 2, 2, 2, 2])
    counts = stratified_counts(labels, 500, np.random.default_rng(0))
    for label in np.unique(labels):
        assert (counts[:, labels == label].sum(axis=1) == (labels == label).sum()).all()
    assert (counts[:, 3] == 1).all()  # a class of one query: always drawn once
    assert counts[:, 0].std() > 0  # others vary


def _trial(rng, delta: float, n_per_class: int = 20, classes: int = 5, noise: float = 0.25):
    """Per-query values of two losses that share each query's difficulty; B = A + delta on average."""
    labels = np.repeat(np.arange(classes), n_per_class)
    difficulty = rng.uniform(0.2, 0.9, len(labels))  # shared: what pairing removes
    a = difficulty + rng.normal(0, noise, len(labels))
    b = difficulty + delta + rng.normal(0, noise, len(labels))
    values = {"ot": np.repeat(a[None, :, None], M, axis=2), "base": np.repeat(b[None, :, None], M, axis=2)}
    _, diffs = summarize(values, labels, reference="ot", n_boot=600, seed=int(rng.integers(1 << 30)))
    return diffs["base"]["mAP"]


def test_a_known_difference_is_found_and_a_zero_difference_rarely():
    """delta = 0.15 with per-query noise 0.25 over 100 queries (a paired-t power near 1): found in at least
    95% of 100 trials; delta = 0: called significant in at most 10% of 200 trials (nominal 5%)."""
    rng = np.random.default_rng(0)
    found = [_trial(rng, 0.15).significant for _ in range(100)]
    assert np.mean(found) >= 0.95, np.mean(found)
    false = [_trial(rng, 0.0).significant for _ in range(200)]
    assert np.mean(false) <= 0.10, np.mean(false)
    covered = [(iv := _trial(rng, 0.05)).low <= 0.05 <= iv.high for _ in range(100)]
    assert np.mean(covered) >= 0.88  # the interval holds the true difference about 95% of the time


def test_seed_spread_widens_the_interval():
    """Two-level bootstrap: identical queries, seeds that disagree -> the interval holds the seed spread."""
    labels = np.repeat(np.arange(2), 10)
    seeds = np.array([0.5, 0.6, 0.7])[:, None, None] * np.ones((3, 20, M))
    intervals, _ = summarize({"ot": seeds}, labels, n_boot=2000)
    iv = intervals["ot"]["mAP"]
    assert iv.mean == pytest.approx(0.6) and iv.seed_std == pytest.approx(0.1)
    assert iv.low < 0.56 and iv.high > 0.64  # draws of three seeds range 0.5 .. 0.7
    one = summarize({"ot": seeds[:1]}, labels, n_boot=200)[0]["ot"]["mAP"]
    assert one.low == pytest.approx(0.5) and one.high - one.low < 1e-12


def test_rotated_copies_are_averaged_into_their_sketch():
    table = pd.DataFrame(
        {
            "query": ["a_r0", "a_r1", "b_r0", "b_r1"],
            "sketch": ["a", "a", "b", "b"],
            "rotation": [0, 1, 0, 1],
            "label": [3, 3, 1, 1],
            **{m: [1.0, 0.0, 0.5, 0.5] for m in METRICS},
        }
    )
    sketches = per_sketch(table)
    assert list(sketches.index) == ["a", "b"] and list(sketches["label"]) == [3, 1]
    assert list(sketches["mAP"]) == [0.5, 0.5]
    values, labels, ids = load_values([table, table.iloc[::-1]])
    assert values.shape == (2, 2, M) and ids == ["a", "b"] and list(labels) == [3, 1]
    assert (values[0] == values[1]).all()  # the second table is reordered to the first one's sketches


def test_bootstrap_at_shrec14_size_is_vectorised():
    """5130 queries of 171 classes, 1000 replicates, 4 losses: one summarize call well within a test."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 171, 5130)
    values = {loss: rng.random((1, 5130, M)) for loss in ("ot", "a", "b", "c")}
    intervals, diffs = summarize(values, labels, reference="ot", n_boot=1000)
    assert set(diffs) == {"a", "b", "c"} and all(iv.low < iv.high for iv in intervals["ot"].values())
