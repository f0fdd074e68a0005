"""A plain per-query, per-rank Python loop of the same SHREC definitions (metrics.py docstring).

Written to be obviously correct, not fast: the reference of the tests and of bench/evaluate.
"""

from __future__ import annotations

import math

import numpy as np


def naive_query(distances_row, query_label, target_labels) -> dict:
    """The metrics of one query, walking its ranked list one target at a time."""
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
        "pr": pr,
        "precision": precision,
        "recall": recall,
    }


def naive_metrics(distances, query_labels, target_labels) -> dict:
    """Mean of `naive_query` over all queries, with the keys of `retrieval_metrics`."""
    per = [naive_query(row, ql, target_labels) for row, ql in zip(distances, query_labels, strict=True)]
    mean = lambda key: float(np.mean([p[key] for p in per]))  # noqa: E731
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
        "pr_precision": np.mean([p["pr"] for p in per], axis=0),
        "per_query": per,
    }
