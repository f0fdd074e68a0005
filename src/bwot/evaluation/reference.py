"""A plain per-query, per-rank Python loop of the same SHREC definitions (metrics.py docstring).

Written to be obviously correct, not fast: the reference of the tests and of bench/evaluate.
"""

from __future__ import annotations

import math

import numpy as np


def naive_pr_shrec(relevant_ranks, c: int) -> list[float | None]:
    """The SHREC rule's PR values of one query (None where it does not count), from the 1-based ranks of
    its C relevant targets in rank order: at recall k/20 the query counts when C >= 2 and k C >= 20; the
    value interpolates linearly, at hit position k C / 20, between the precisions of the neighbouring hits."""
    hit_precision = [j / rank for j, rank in enumerate(relevant_ranks, start=1)]  # p_1 .. p_C
    out: list[float | None] = []
    for level in range(1, 21):
        position = level * c / 20  # how many hits recall level/20 asks for (fractional)
        if c < 2 or position < 1:
            out.append(None)
            continue
        below = math.floor(position)
        weight = position - below
        above = min(below + 1, c)
        out.append(hit_precision[below - 1] * (1 - weight) + hit_precision[above - 1] * weight)
    return out


def naive_query(distances_row, query_label, target_labels) -> dict:
    """The metrics of one query, walking its ranked list one target at a time. `pr` is the PR of the
    `every_query` rule, `pr_shrec` that of the `shrec` rule (None where the query does not count); `AP`
    divides by C, `AP_sum` is the sum before the division."""
    n = len(target_labels)
    order = sorted(range(n), key=lambda j: (float(distances_row[j]), j))  # stable: ties by target order
    g = [1 if int(target_labels[j]) == int(query_label) else 0 for j in order]
    c = sum(1 for t in target_labels if int(t) == int(query_label))
    if c == 0:
        raise ValueError(f"class {query_label} has no target")
    hits = 0
    ft = st = e_hits = 0
    dcg = ideal = 0.0
    ap = 0.0
    precision, recall, relevant_ranks = [], [], []
    for i in range(1, n + 1):
        gi = g[i - 1]
        hits += gi
        if i <= c:
            ft += gi
            ideal += 1.0 if i == 1 else 1.0 / math.log2(i)
        if i <= 2 * c:
            st += gi
        if i <= 32:
            e_hits += gi
        dcg += gi * (1.0 if i == 1 else 1.0 / math.log2(i))
        if gi:
            relevant_ranks.append(i)
            ap += hits / i
        precision.append(hits / i)
        recall.append(hits / c)
    k = min(32, n)
    p32, r32 = e_hits / k, e_hits / c
    e = 0.0 if e_hits == 0 else 2 * p32 * r32 / (p32 + r32)
    pr = []
    for level in range(1, 21):
        m = math.ceil(level * c / 20)  # the m-th relevant target reaches recall level/20
        pr.append(m / relevant_ranks[m - 1])
    return {
        "NN": float(g[0]),
        "FT": ft / c,
        "ST": st / c,
        "E": e,
        "DCG": dcg / ideal,
        "AP": ap / c,
        "AP_sum": ap,
        "C": c,
        "pr": pr,
        "pr_shrec": naive_pr_shrec(relevant_ranks, c),
        "precision": precision,
        "recall": recall,
    }


def naive_metrics(distances, query_labels, target_labels, *, pr_rule="shrec", ap="class_size") -> dict:
    """Mean of `naive_query` over all queries, with the keys of `retrieval_metrics` (and its `pr_rule` and
    `ap`). With ap="max_class_size" each query's AP is its sum divided by the largest C of the queries."""
    per = [naive_query(row, ql, target_labels) for row, ql in zip(distances, query_labels, strict=True)]
    if ap == "max_class_size":
        c_max = max(p["C"] for p in per)
        for p in per:
            p["AP"] = p["AP_sum"] / c_max
    mean = lambda key: float(np.mean([p[key] for p in per]))  # noqa: E731
    if pr_rule == "shrec":
        curve = []
        for level in range(20):
            counted = [p["pr_shrec"][level] for p in per if p["pr_shrec"][level] is not None]
            curve.append(sum(counted) / len(counted) if counted else 0.0)
    else:
        curve = list(np.mean([p["pr"] for p in per], axis=0))
    return {
        "NN": mean("NN"),
        "FT": mean("FT"),
        "ST": mean("ST"),
        "E": mean("E"),
        "DCG": mean("DCG"),
        "mAP": mean("AP"),
        "precision": np.mean([p["precision"] for p in per], axis=0),
        "recall": np.mean([p["recall"] for p in per], axis=0),
        "pr_recall": np.arange(1, 21) / 20,
        "pr_precision": np.array(curve),
        "per_query": per,
    }
