"""The SHREC retrieval metrics (docs/evaluation.md), vectorised over queries and chunked to bound memory.

Per query, all targets are ranked by distance with a stable sort (ties keep target order); G_i = 1 when the
target at rank i has the query's class; C = number of targets of that class; n = number of targets.

- NN  = G_1
- FT  = sum(G_1..G_C) / C
- ST  = sum(G_1..G_min(2C,n)) / C                     (the list is clamped to its end)
- E   = 2 P R / (P + R), P = sum(G_1..G_k) / k, R = sum(G_1..G_k) / C, k = min(32, n); 0 when nothing hits.
        The SHREC/PSB text: "consider only the first 32 retrieved models and compute precision and recall
        over those results"; precision is over what was retrieved, so a list shorter than 32 divides by n.
        E is computed per query, then averaged (as FT, ST, DCG).
- DCG = (G_1 + sum_{i>=2} G_i / log2 i) / (1 + sum_{j=2..C} 1 / log2 j)
- AP  = (1/C) sum_{j=1..C} j / rank_j, rank_j = rank of the j-th relevant target; mAP = mean AP.
        `ap="max_class_size"` divides by C_max = the largest C among the queries instead (the SHREC'12/'13
        organisers' MATLAB code, docs/evaluation.md).
- PR curve at recall r_k = k/20 (k = 1..20), from p_m = m / rank_m, the precision at the m-th relevant hit:
  `pr_rule="shrec"` (the SHREC evaluation code, Sketch3DToolkit's CalAvgPerf/InterpolatePerf): a query
  counts at level k iff C >= 2 and k C >= 20; its value is p_x (1 - f) + p_min(x+1, C) f with x = floor(k C
  / 20), f = k C / 20 - x; the curve is the mean over the queries that count, 0 where none does. The
  per-query matrix holds NaN where a query does not count.
  `pr_rule="every_query"`: every query at every level, p_m with m = ceil(k C / 20) (the precision where the
  recall first reaches r_k); the curve is the mean over all queries.
- precision[i], recall[i]: the mean over queries of P and R after i+1 retrieved targets.

Speed: queries are processed in chunks (default 256 rows: tens of MB at SHREC14 size); float32 distances
use a fast exact stable sort (`stable_argsort_rows`), other dtypes numpy's stable argsort.

A query whose class has no target has no defined FT/ST/AP: it is an error naming the classes (never a
silent exclusion).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

METRICS = ("NN", "FT", "ST", "E", "DCG", "mAP")
PR_POINTS = 20
E_DEPTH = 32
PR_RULES = ("shrec", "every_query")  # evaluate.pr_rule
AP_RULES = ("class_size", "max_class_size")  # evaluate.ap
PR_MIN_CLASS = 2  # the SHREC rule: a query whose class has fewer targets never counts in the PR curve


class NoRelevantTargetsError(ValueError):
    """Queries whose class has no target: retrieval metrics are undefined for them."""


@dataclass
class QueryMetrics:
    """Per-query metrics (arrays of n_queries) and the per-rank sums needed for the means."""

    NN: np.ndarray
    FT: np.ndarray
    ST: np.ndarray
    E: np.ndarray
    DCG: np.ndarray
    AP: np.ndarray
    pr: np.ndarray  # (n_queries, 20): precision at recall 0.05 .. 1; NaN where a query does not count
    precision_sum: np.ndarray  # (n_targets,): sum over queries of P@i
    recall_sum: np.ndarray  # (n_targets,): sum over queries of R@i
    topk: np.ndarray | None = None  # (n_queries, k) target indices, best first (when asked for)
    topk_dist: np.ndarray | None = None  # (n_queries, k) their distances
    pr_rule: str = "shrec"
    ap: str = "class_size"

    @property
    def n_queries(self) -> int:
        return len(self.NN)

    def means(self, index: np.ndarray | slice = slice(None)) -> dict[str, float]:
        """The six summary metrics over the queries selected by `index` (all by default)."""
        values = {"NN": self.NN, "FT": self.FT, "ST": self.ST, "E": self.E, "DCG": self.DCG, "mAP": self.AP}
        return {name: float(np.mean(v[index])) for name, v in values.items()}

    def pr_curve(self, index: np.ndarray | slice = slice(None)) -> np.ndarray:
        """The 20-point PR curve of the queries selected by `index` (all by default): `mean_pr_curve`."""
        return mean_pr_curve(self.pr[index])


def mean_pr_curve(pr: np.ndarray) -> np.ndarray:
    """(20,) the PR curve of a per-query PR matrix (n_queries, 20): per level, the mean over the queries
    that count there (not NaN), 0 where none does (as the SHREC code reports it)."""
    pr = np.asarray(pr, dtype=np.float64)
    counted = ~np.isnan(pr)
    n = counted.sum(axis=0)
    total = np.where(counted, pr, 0.0).sum(axis=0)
    return np.divide(total, n, out=np.zeros(pr.shape[1]), where=n > 0)


def pr_recall_levels() -> np.ndarray:
    """The recall levels of the PR curve: 0.05, 0.10, ..., 1.0."""
    return np.arange(1, PR_POINTS + 1) / PR_POINTS


def _check_rules(pr_rule: str, ap: str) -> None:
    if pr_rule not in PR_RULES:
        raise ValueError(f"unknown pr_rule {pr_rule!r} (expected one of {', '.join(PR_RULES)})")
    if ap not in AP_RULES:
        raise ValueError(f"unknown ap {ap!r} (expected one of {', '.join(AP_RULES)})")


def _hit_precision(col: np.ndarray, start: np.ndarray, m: np.ndarray) -> np.ndarray:
    """p_m = m / rank_m: the precision at each row's m-th relevant target (m: (rows, levels), 1..C)."""
    return m / (col[start[:, None] + m - 1] + 1)


def pr_points(col: np.ndarray, start: np.ndarray, c: np.ndarray, pr_rule: str) -> np.ndarray:
    """(rows, 20) per-query PR values from the ranks of the relevant targets (`col`: 0-based, row-major,
    each row's C of them from `start`); NaN where a query does not count (module docstring)."""
    kc = np.arange(1, PR_POINTS + 1)[None, :] * c[:, None]  # k C, exact integers
    if pr_rule == "every_query":
        return _hit_precision(col, start, (kc + PR_POINTS - 1) // PR_POINTS)  # m = ceil(k C / 20)
    x = kc // PR_POINTS  # floor(k C / 20): >= 1 wherever the query counts
    f = (kc - x * PR_POINTS) / PR_POINTS
    cc = c[:, None]
    low = _hit_precision(col, start, np.clip(x, 1, cc))
    high = _hit_precision(col, start, np.clip(x + 1, 1, cc))
    counts = (cc >= PR_MIN_CLASS) & (kc >= PR_POINTS)
    return np.where(counts, low * (1 - f) + high * f, np.nan)


def _check(distances: Any, query_labels: np.ndarray, target_labels: np.ndarray):
    # an array, or any object with .shape whose row slices are arrays (rows computed on demand)
    d = (
        distances
        if hasattr(distances, "shape") and hasattr(distances, "__getitem__")
        else np.asarray(distances)
    )
    ql = np.asarray(query_labels).astype(np.int64, copy=False)
    tl = np.asarray(target_labels).astype(np.int64, copy=False)
    if len(d.shape) != 2 or tuple(d.shape) != (len(ql), len(tl)):
        raise ValueError(
            f"distances must be (n_queries, n_targets) = ({len(ql)}, {len(tl)}), got shape {d.shape}"
        )
    if d.shape[1] == 0:
        raise ValueError("no targets to rank")
    if (ql < 0).any() or (tl < 0).any():
        raise ValueError("labels must be non-negative class indices")
    size = int(max(ql.max(initial=-1), tl.max(initial=-1))) + 1
    counts = np.bincount(tl, minlength=size)
    missing = np.unique(ql[counts[ql] == 0])
    if len(missing):
        detail = ", ".join(f"{c} ({int((ql == c).sum())} queries)" for c in missing)
        raise NoRelevantTargetsError(f"queries whose class has no target (labels): {detail}")
    return d, ql, tl, counts


def stable_argsort_rows(x: np.ndarray) -> np.ndarray:
    """Row-wise argsort, stable (ties keep column order), as np.argsort(kind="stable").

    float32 rows take a fast path: each value becomes an order-preserving int32, packed above its column
    index into unique int64 keys, so numpy's fast unstable sort gives the stable order (~4x faster).
    """
    if x.dtype != np.float32 or x.shape[1] >= 2**31 or sys.byteorder != "little":
        return np.argsort(x, axis=1, kind="stable")
    signed = (x + np.float32(0.0)).view(np.int32)  # + 0.0 turns -0.0 into 0.0: they compare equal
    signed ^= (signed >> 31) & np.int32(0x7FFFFFFF)  # IEEE order -> two's-complement order
    keys = signed.astype(np.int64)
    keys <<= 32
    keys |= np.arange(x.shape[1], dtype=np.int64)  # unique keys: equal values keep column order
    keys.sort(axis=1)
    return keys.view(np.int32)[:, 0::2]  # low 32 bits (little-endian): the column index, no copy


def stable_top_k_rows(x: np.ndarray, k: int) -> np.ndarray:
    """`stable_argsort_rows(x)[:, :k]`, the same columns, found by a partition of each row (O(width)) and a
    stable sort of only the columns at most its k-th smallest value (all of them, ties included)."""
    k = max(0, min(int(k), x.shape[1]))
    if k == 0 or 4 * k >= x.shape[1]:
        return stable_argsort_rows(x)[:, :k]
    kth = np.partition(x, k - 1, axis=1)[:, k - 1]
    out = np.empty((len(x), k), dtype=np.int64)
    for i, row in enumerate(x):
        near = np.flatnonzero(row <= kth[i])  # increasing columns: the stable order's tie order
        if len(near) < k:  # NaN among the k smallest (no distance is NaN): the whole row's order
            near = np.arange(len(row))
        out[i] = near[stable_argsort_rows(row[near][None])[0][:k]]
    return out


def _sum_per_row(row: np.ndarray, n_rows: int, weights: np.ndarray) -> np.ndarray:
    return np.bincount(row, weights.astype(np.float64, copy=False), minlength=n_rows)


def per_query_metrics(
    distances: Any,
    query_labels: np.ndarray,
    target_labels: np.ndarray,
    *,
    chunk_size: int = 256,
    topk: int = 0,
    pr_rule: str = "shrec",
    ap: str = "class_size",
) -> QueryMetrics:
    """All metrics per query; memory O(chunk_size x n_targets) besides the distances themselves.

    `pr_rule` (`shrec` or `every_query`) and `ap` (`class_size` or `max_class_size`): the module docstring.

    `distances`: an array, or an object with `.shape` whose row slices `distances[lo:hi]` are arrays (so
    rows can be computed on demand, e.g. `bwot.evaluation.distances.DistanceMatrix`).

    With `topk` > 0 the indices of the first min(topk, n_targets) targets of each ranking are kept too.
    """
    _check_rules(pr_rule, ap)
    d, ql, tl, counts = _check(distances, query_labels, target_labels)
    n_q, n = d.shape
    c_max = int(counts[ql].max(initial=1))  # the AP divisor of ap="max_class_size": over all queries
    ranks = np.arange(1, n + 1, dtype=np.float64)
    gain = np.empty(n)  # DCG weight of rank i: 1 for rank 1, 1/log2(i) after
    gain[0] = 1.0
    gain[1:] = 1.0 / np.log2(ranks[1:])
    ideal = np.cumsum(gain)  # ideal DCG of a class of size C: ideal[C-1]
    k_e = min(E_DEPTH, n)

    out = {name: np.empty(n_q) for name in ("NN", "FT", "ST", "E", "DCG", "AP")}
    pr = np.empty((n_q, PR_POINTS))
    relevant_at = np.zeros(n)  # sum over queries of G_i
    relevant_at_over_c = np.zeros(n)  # sum over queries of G_i / C
    top = np.empty((n_q, min(topk, n)), dtype=np.int32)
    top_dist = np.empty(top.shape, dtype=np.float32)
    bad_rows: list[int] = []
    step = max(1, chunk_size)
    for lo in range(0, n_q, step):
        hi = min(lo + step, n_q)
        block = np.asarray(d[lo:hi])
        nan_rows = np.flatnonzero(np.isnan(block).any(axis=1))
        if len(nan_rows):
            bad_rows.extend((lo + nan_rows).tolist())
            block = np.nan_to_num(block, nan=np.inf)  # finish the pass, to name every bad row at the end
        order = stable_argsort_rows(block)
        top[lo:hi] = order[:, : top.shape[1]]
        top_dist[lo:hi] = np.take_along_axis(block, top[lo:hi], axis=1)
        del block
        rel = tl[order] == ql[lo:hi, None]  # G, (q, n) bool
        del order
        # Everything below works on the positions of the relevant targets only: row-major, so each row
        # holds exactly its C of them, in rank order; col = rank - 1.
        row, col = np.nonzero(rel)
        c = counts[ql[lo:hi]]
        c_row = c[row]
        start = np.concatenate(([0], np.cumsum(c)[:-1]))
        nth = np.arange(len(col)) - start[row] + 1  # j: the j-th relevant target of its row
        per_row = partial(_sum_per_row, row, hi - lo)
        out["NN"][lo:hi] = rel[:, 0]
        out["FT"][lo:hi] = per_row(col < c_row) / c
        out["ST"][lo:hi] = per_row(col < 2 * c_row) / c  # a list shorter than 2C simply ends
        h = per_row(col < k_e)
        p, r = h / k_e, h / c
        out["E"][lo:hi] = np.divide(2 * p * r, p + r, out=np.zeros_like(h), where=h > 0)
        out["DCG"][lo:hi] = per_row(gain[col]) / ideal[c - 1]
        out["AP"][lo:hi] = per_row(nth / (col + 1)) / (c if ap == "class_size" else c_max)
        pr[lo:hi] = pr_points(col, start, c, pr_rule)
        relevant_at += np.bincount(col, minlength=n)
        relevant_at_over_c += np.bincount(col, 1.0 / c_row, minlength=n)
    if bad_rows:
        raise ValueError(f"NaN distances in {len(bad_rows)} query rows: {bad_rows[:50]}")
    return QueryMetrics(
        pr=pr,
        precision_sum=np.cumsum(relevant_at) / ranks,  # sum_q hits_q(i) / i
        recall_sum=np.cumsum(relevant_at_over_c),  # sum_q hits_q(i) / C_q
        topk=top if topk > 0 else None,
        topk_dist=top_dist if topk > 0 else None,
        pr_rule=pr_rule,
        ap=ap,
        **out,
    )


def retrieval_metrics(
    distances: np.ndarray,
    query_labels: np.ndarray,
    target_labels: np.ndarray,
    *,
    chunk_size: int = 256,
    pr_rule: str = "shrec",
    ap: str = "class_size",
) -> dict:
    """The SHREC metrics of a query x target distance matrix (smaller = more similar).

    Returns floats `NN`, `FT`, `ST`, `E`, `DCG`, `mAP` (means over queries), arrays `precision` and
    `recall` (mean over queries after each rank, length n_targets), and the 20-point PR curve as
    `pr_recall` (0.05..1) and `pr_precision` (by `pr_rule`). Definitions: module docstring.
    """
    q = per_query_metrics(
        distances, query_labels, target_labels, chunk_size=chunk_size, pr_rule=pr_rule, ap=ap
    )
    result: dict = q.means()
    result["precision"] = q.precision_sum / q.n_queries
    result["recall"] = q.recall_sum / q.n_queries
    result["pr_recall"] = pr_recall_levels()
    result["pr_precision"] = q.pr_curve()
    return result


def per_class_table(q: QueryMetrics, query_labels: np.ndarray, target_labels: np.ndarray, classes=None):
    """A DataFrame with one row per query class: label, class, n_queries, n_targets and the six metrics."""
    import pandas as pd

    ql = np.asarray(query_labels)
    counts = np.bincount(np.asarray(target_labels), minlength=int(ql.max(initial=0)) + 1)
    if classes is not None and len(ql) and ql.max() >= len(classes):
        unknown = sorted({int(c) for c in ql if c >= len(classes)})
        raise ValueError(f"query labels {unknown} have no name among the {len(classes)} classes")
    rows = []
    for label in np.unique(ql):
        index = np.flatnonzero(ql == label)
        name = classes[label] if classes is not None else str(label)
        rows.append(
            {"label": int(label), "class": name, "n_queries": len(index), "n_targets": int(counts[label])}
            | q.means(index)
        )
    return pd.DataFrame(rows, columns=["label", "class", "n_queries", "n_targets", *METRICS])
