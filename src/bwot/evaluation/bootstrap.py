"""How sure a result is: 95% intervals from a bootstrap over query sketches, and paired differences.

Each metric of a run is a mean over query sketches of a per-query value (per_query.csv of `evaluate`).
A bootstrap replicate draws the query sketches again, with replacement, **within each class** (so every
class keeps its number of queries), and recomputes the mean; the 95% interval is the 2.5th and 97.5th
percentile of the replicate means. Under the `all_rotations` protocol the rotated copies of one sketch are
averaged first: the unit drawn is the sketch, not the copy.

**Seeds.** With several seeds of the metric stage (metric.seeds), a replicate also draws the seeds again,
with replacement, and averages the drawn seeds' means over the drawn queries: the interval then holds the
spread from training (seed) and from the choice of queries together (a two-level bootstrap). With one seed
it is the query bootstrap alone; the table also gives the standard deviation over seeds.

**Paired differences.** Two losses are compared on the same replicates: the same drawn queries for both
(and each loss's own drawn seeds), so the variation shared by the two (hard and easy queries) cancels. A
difference whose interval contains 0 is not significant at the 5% level.

Everything is vectorised: a replicate is a row of per-query counts, and B replicates are one matrix
product with the (queries x metrics) values, in chunks of rows to bound memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bwot.evaluation.metrics import METRICS

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A metric's mean over seeds and queries, its 95% bootstrap interval, and its std over seeds."""

    mean: float
    low: float
    high: float
    seed_std: float  # NaN with one seed

    @property
    def significant(self) -> bool:
        """For a difference: whether its interval excludes 0."""
        return self.low > 0 or self.high < 0


def per_sketch(table: pd.DataFrame) -> pd.DataFrame:
    """per_query.csv -> one row per query sketch (the mean over its rotated copies), in sketch order."""
    grouped = table.groupby("sketch", sort=False)
    out = grouped[list(METRICS)].mean()
    out.insert(0, "label", grouped["label"].first())
    return out


def stratified_counts(labels: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) how often each query is drawn in each replicate: within each class, as many draws as
    the class has queries, uniformly with replacement."""
    labels = np.asarray(labels)
    counts = np.zeros((n_boot, len(labels)))
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        counts[:, members] = rng.multinomial(len(members), np.full(len(members), 1.0 / len(members)), n_boot)
    return counts


def seed_counts(n_seeds: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n_seeds) how often each seed is drawn in each replicate (with one seed: always once)."""
    if n_seeds == 1:
        return np.ones((n_boot, 1))
    return rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), n_boot).astype(float)


def replicate_means(values: np.ndarray, queries: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Replicate means (B, M) of per-query values (S seeds, n queries, M metrics) under query counts
    (B, n) and seed counts (B, S)."""
    n_seeds, n_queries = values.shape[:2]
    per_seed = np.einsum("bn,snm->bsm", queries, values) / n_queries  # each seed's mean over drawn queries
    return np.einsum("bs,bsm->bm", seeds, per_seed) / n_seeds


@dataclass
class Bootstrap:
    """Replicate means of several losses on shared query draws: intervals and paired differences."""

    seed_means: dict[str, np.ndarray]  # loss -> (S, M): each seed's mean over all queries
    replicates: dict[str, np.ndarray]  # loss -> (B, M)

    def point(self, loss: str) -> np.ndarray:
        """The metrics of `loss`: the mean over seeds of the mean over queries, (M,)."""
        return self.seed_means[loss].mean(axis=0)

    def intervals(self, loss: str) -> dict[str, Interval]:
        """Per metric: the point value, its 95% interval and the std over seeds."""
        return _intervals(self.point(loss), self.replicates[loss], self.seed_means[loss])

    def differences(self, loss: str, reference: str) -> dict[str, Interval]:
        """Per metric: loss - reference on the same query draws, with its 95% interval."""
        point = self.point(loss) - self.point(reference)
        return _intervals(point, self.replicates[loss] - self.replicates[reference], None)


def bootstrap(
    values: Mapping[str, np.ndarray],
    labels: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    chunk: int = 250,
) -> Bootstrap:
    """Replicates of every loss on the same stratified query draws (each loss draws its own seeds).

    values: loss -> (S seeds, n query sketches, M metrics in the order of METRICS), the same sketches in the
    same order for every loss; labels: (n,) their classes.
    """
    losses = list(values)
    for loss in losses:
        if values[loss].ndim != 3 or values[loss].shape[1:] != (len(labels), len(METRICS)):
            raise ValueError(f"{loss}: per-query values must be (seeds, {len(labels)}, {len(METRICS)})")
    rng = np.random.default_rng(seed)
    reps: dict[str, list[np.ndarray]] = {loss: [] for loss in losses}
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        queries = stratified_counts(labels, b, rng)  # shared by every loss: paired
        for loss in losses:
            reps[loss].append(replicate_means(values[loss], queries, seed_counts(len(values[loss]), b, rng)))
    return Bootstrap(
        seed_means={loss: values[loss].mean(axis=1) for loss in losses},
        replicates={loss: np.concatenate(r) for loss, r in reps.items()},
    )


def summarize(
    values: Mapping[str, np.ndarray],
    labels: np.ndarray,
    *,
    reference: str | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[dict[str, dict[str, Interval]], dict[str, dict[str, Interval]]]:
    """Intervals of every loss, and its paired differences to `reference` (every loss but it)."""
    boot = bootstrap(values, labels, n_boot=n_boot, seed=seed)
    intervals = {loss: boot.intervals(loss) for loss in values}
    others = [loss for loss in values if loss != reference] if reference is not None else []
    return intervals, {loss: boot.differences(loss, reference) for loss in others}


def _intervals(
    point: np.ndarray, replicates: np.ndarray, seed_means: np.ndarray | None
) -> dict[str, Interval]:
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.percentile(replicates, [tail, 100 - tail], axis=0)
    spread = seed_means.std(axis=0, ddof=1) if seed_means is not None and len(seed_means) > 1 else None
    return {
        m: Interval(
            float(point[i]), float(low[i]), float(high[i]), float(spread[i]) if spread is not None else np.nan
        )
        for i, m in enumerate(METRICS)
    }


def load_values(per_query: Sequence[pd.DataFrame]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The per-seed per_query tables of one loss -> values (S, n, M), labels (n,), sketch ids, in the
    first table's sketch order; every seed must hold the same sketches."""
    sketches = [per_sketch(t) for t in per_query]
    order = list(sketches[0].index)
    for other in sketches[1:]:
        if set(other.index) != set(order):
            raise ValueError("the seeds' per_query tables hold different query sketches")
    stacked = np.stack([s.loc[order, list(METRICS)].to_numpy(float) for s in sketches])
    return stacked, sketches[0].loc[order, "label"].to_numpy(), order
