"""Benchmark of bwot.evaluation.retrieval_metrics at SHREC14 size against a per-query Python loop.

SHREC14 test protocol size: 5130 queries (30 test sketches x 171 classes) x 8987 targets, class sizes
1..632. Distances are random float32. The vectorised version runs on all queries; the per-query loop
(bwot.evaluation.reference, the same definitions walked rank by rank) runs on a subset and its time is
extrapolated linearly to all queries (each query costs the same: one sort and one pass over 8987 targets).
Peak memory: tracemalloc peak of the call (numpy reports its buffers to tracemalloc), i.e. what the
metrics allocate on top of the distance matrix they are given (a separate, untimed run).

    .venv/bin/python bench/evaluate/run.py [--loop-queries 100] [--chunk-size 256] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np

from bwot.evaluation import retrieval_metrics
from bwot.evaluation.reference import naive_metrics

N_CLASSES, N_TARGETS, QUERIES_PER_CLASS = 171, 8987, 30


def shrec14_like(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random distances and labels with SHREC14's shape: 171 classes of 1..632 targets, 8987 in all."""
    rng = np.random.default_rng(seed)
    sizes = np.exp(rng.normal(3.0, 1.0, N_CLASSES))
    sizes = np.clip(np.round(sizes / sizes.sum() * (N_TARGETS - 633)), 2, 631).astype(int)
    sizes[0], sizes[1] = 1, 632
    sizes[2] += N_TARGETS - sizes.sum()  # exact total
    assert sizes.sum() == N_TARGETS and sizes.min() >= 1 and sizes.max() == 632, sizes
    target_labels = rng.permutation(np.repeat(np.arange(N_CLASSES), sizes))
    query_labels = np.repeat(np.arange(N_CLASSES), QUERIES_PER_CLASS)
    distances = rng.random((len(query_labels), N_TARGETS), dtype=np.float32)
    return distances, query_labels, target_labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop-queries", type=int, default=100, help="queries timed with the Python loop")
    parser.add_argument("--chunk-size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3, help="vectorised runs; the best time is kept")
    parser.add_argument("--out", default="bench/out/evaluate.json")
    args = parser.parse_args()

    d, ql, tl = shrec14_like()
    times = []
    for _ in range(args.repeat):  # best of a few: the machine may be shared
        t0 = time.perf_counter()
        fast = retrieval_metrics(d, ql, tl, chunk_size=args.chunk_size)
        times.append(time.perf_counter() - t0)
    t_fast = min(times)
    tracemalloc.start()
    retrieval_metrics(d, ql, tl, chunk_size=args.chunk_size)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    rng = np.random.default_rng(1)
    sub = np.sort(rng.choice(len(ql), args.loop_queries, replace=False))
    t0 = time.perf_counter()
    slow = naive_metrics(d[sub], ql[sub], tl)
    t_loop_sub = time.perf_counter() - t0
    t_loop = t_loop_sub * len(ql) / len(sub)
    check = retrieval_metrics(d[sub], ql[sub], tl)
    agree = all(np.isclose(check[k], slow[k]) for k in ("NN", "FT", "ST", "E", "DCG", "mAP"))

    result = {
        "size": f"{len(ql)} x {N_TARGETS}",
        "chunk_size": args.chunk_size,
        "vectorised_s": round(t_fast, 2),
        "vectorised_runs_s": [round(t, 2) for t in times],
        "vectorised_peak_mib": round(peak / 2**20, 1),
        "distances_mib": round(d.nbytes / 2**20, 1),
        "process_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "loop_queries_timed": len(sub),
        "loop_subset_s": round(t_loop_sub, 2),
        "loop_extrapolated_s": round(t_loop, 1),
        "speedup": round(t_loop / t_fast, 1),
        "subset_agrees": bool(agree),
        "mAP_random": round(fast["mAP"], 4),
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
    }
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
