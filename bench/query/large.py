"""Benchmark of search over large target sets: exact against HNSW (bwot.query.ann), and `bwot serve` at
1,000,000 models.

Synthetic embeddings shaped like a trained run's (`--run`, default results/builtin, loss ot): its target
embeddings' class means and within-class spread (covariances of the real ones, so the synthetic
points have the real embedding's width, 100 with the defaults, and its shape), one synthetic class per
50 models (SHREC14 has 52 a class). Queries are new points of the same classes. Pinned to one core,
one thread (torch, OpenBLAS, OpenMP, faiss).

- `search`: for each size, the time of one query (k = 10) by `ExactSearch` (every target, `evaluate`'s
  ranking) and by `GraphSearch` (the HNSW graph) at several efSearch, the recall@10 of the graph's
  answer against the exact one, the graph's build time (one thread), its bytes in the index file and the
  resident memory it takes. Where exact passes 50 ms a query gives `bwot.query.ann.HNSW_ABOVE`.
- `serve`: a copy of the run whose index gets `--serve-size` synthetic models through `bwot add`'s own
  writer (`write_enlarged`: the graph is built when the index crosses HNSW_ABOVE), then `bwot serve` on it
  (a child process, one core): its start time, /api/info (the backend), and the time of each of
  `--queries` drawn sketches (the run's test sketch PNGs posted to /api/search) from request to answer.

    .venv/bin/python bench/query/large.py [--part search|serve|all] [--sizes 8987 100000 1000000]
Results: bench/out/query-large.json and Markdown tables on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from threads import one_thread  # bench/query/threads.py, beside this script

one_thread()  # before numpy and torch load their thread pools

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bwot.evaluation.distances import DistanceMatrix  # noqa: E402
from bwot.evaluation.metrics import stable_argsort_rows  # noqa: E402
from bwot.query.add import NewRows, write_enlarged  # noqa: E402
from bwot.query.ann import HNSW_ABOVE, ExactSearch, GraphSearch, HnswGraph  # noqa: E402
from bwot.query.index import THUMBNAIL, read_index  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "bench" / "out"
PER_CLASS = 50
EFS = (16, 32, 64, 128)


class Embeddings:
    """New points shaped like a run's target embeddings: class means drawn with the covariance of the real
    class means, offsets within a class with the real pooled within-class covariance."""

    def __init__(self, real: np.ndarray, labels: np.ndarray, seed: int = 0, classes: bool = True) -> None:
        names = np.unique(labels)
        means = np.stack([real[labels == c].mean(axis=0) for c in names])
        self.mu = means.mean(axis=0)
        self.between = (means - self.mu) / np.sqrt(len(means))  # rows: x = mu + z @ between, z ~ N(0, I)
        within = real - means[np.searchsorted(names, labels)]
        self.within = within / np.sqrt(len(within))
        if not classes:  # one Gaussian with the embeddings' whole covariance: no class structure at all
            self.between, self.within = 0 * self.between, (real - real.mean(axis=0)) / np.sqrt(len(real))
        self.rng = np.random.default_rng(seed)
        self.centres = np.empty((0, real.shape[1]))

    def targets(self, n: int, block: int = 100_000) -> np.ndarray:
        """(n, d) float32 targets in n / PER_CLASS classes (their centres kept for `queries`)."""
        k = max(1, n // PER_CLASS)
        self.centres = self.mu + self.rng.standard_normal((k, len(self.between))) @ self.between
        return np.concatenate(
            [self._around(self.rng.integers(0, k, min(block, n - lo))) for lo in range(0, n, block)]
        )

    def queries(self, n: int) -> np.ndarray:
        """(n, d) float32 new points of the targets' classes."""
        return self._around(self.rng.integers(0, len(self.centres), n))

    def _around(self, which: np.ndarray) -> np.ndarray:
        offsets = self.rng.standard_normal((len(which), len(self.within))) @ self.within
        return (self.centres[which] + offsets).astype(np.float32)


def graph_bytes(graph: HnswGraph) -> int:
    """The bytes faiss holds for a graph: its copy of the vectors and the graph's arrays."""
    hnsw, index = graph.index.hnsw, graph.index
    links = 4 * hnsw.neighbors.size() + 4 * hnsw.levels.size() + 8 * hnsw.offsets.size()
    return links + 4 * index.ntotal * index.d + 8 * hnsw.assign_probas.size()


def one_at_a_time_ms(search, queries: np.ndarray, k: int = 10) -> tuple[list[float], list[np.ndarray]]:
    """Each query ranked alone: its wall time (ms) and its rows."""
    search.rank(queries[:1], k)  # warm-up
    times, rows = [], []
    for q in queries:
        start = time.perf_counter()
        r, _ = search.rank(q[None], k)
        times.append(1000 * (time.perf_counter() - start))
        rows.append(r[0])
    return times, rows


def stats(times: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p90_ms": round(float(np.percentile(times, 90)), 2),
        "max_ms": round(max(times), 2),
    }


def exact_rows(queries: np.ndarray, targets: np.ndarray, distance: str, k: int = 10) -> np.ndarray:
    """The exact top k of many queries at once (the ground truth, in tiles of DistanceMatrix rows)."""
    d = DistanceMatrix(queries, targets, distance)
    return np.concatenate([stable_argsort_rows(d[lo : lo + 64])[:, :k] for lo in range(0, len(queries), 64)])


def search_part(
    real, labels, distance: str, sizes: list[int], n_queries: int, n_exact: int, classes: bool
) -> list[dict]:
    rows = []
    for n in sizes:
        gen = Embeddings(real, labels, seed=n, classes=classes)
        targets = gen.targets(n)
        queries = gen.queries(n_queries)
        truth = exact_rows(queries, targets, distance)
        exact = ExactSearch(targets, distance)
        exact_ms, exact_found = one_at_a_time_ms(exact, queries[:n_exact])
        assert all(np.array_equal(a, b) for a, b in zip(exact_found, truth, strict=False))
        del exact
        start = time.perf_counter()
        graph = HnswGraph.build(targets, distance)
        build_s = time.perf_counter() - start
        stored = graph.to_bytes()
        row = {
            "targets": n,
            "data": "classes" if classes else "one Gaussian",
            "dim": int(targets.shape[1]),
            "exact": stats(exact_ms),
            "build_s": round(build_s, 1),
            "graph_file_bytes_per_model": round(len(stored) / n, 1),
            "embeddings_file_bytes_per_model": targets.shape[1] * 4,
            "graph_memory_bytes_per_model": round(graph_bytes(graph) / n, 1),
            "hnsw": {},
        }
        for ef in EFS:
            ms, found = one_at_a_time_ms(GraphSearch(graph, targets, distance, ef), queries)
            recall = np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)])
            row["hnsw"][ef] = stats(ms) | {"recall_at_10": round(float(recall), 4)}
        rows.append(row)
        print(json.dumps(row), flush=True)
        del graph, stored, targets
    return rows


def serve_part(run: Path, real, labels, n: int, n_queries: int, core: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "results" / run.name  # what serve reads: the index, its models, the test sketches
        for part in ("index", "backbone", "manifest", "sketches", "metric/ot"):
            shutil.copytree(run / part, copy / part)
        index_file = copy / "index" / "ot.h5"
        index = read_index(index_file)
        gen = Embeddings(real, labels, seed=1)
        extra = n - len(index)
        embeddings = gen.targets(extra)
        thumbs = np.broadcast_to(index.thumbnails([0])[0], (extra, THUMBNAIL, THUMBNAIL))
        ids = [f"synthetic-{i:07d}" for i in range(extra)]
        added = {"added_ids": ids, "added_sources": ["synthetic"] * extra}
        added |= {"added_sha256": ["-"] * extra, "added_at": ["-"] * extra}
        start = time.perf_counter()
        write_enlarged(index_file, NewRows(ids, embeddings, 0, index.classes, thumbs, added))
        write_s = time.perf_counter() - start
        file_mb = index_file.stat().st_size / 2**20
        manifest = pd.read_csv(run / "manifest" / "sketches.csv")
        paths = manifest.loc[manifest["split"] == "test", "path"].head(n_queries)
        sketches = [run.parent.parent / p for p in paths]  # relative to the workflow folder
        port = 8765
        start = time.perf_counter()
        server = subprocess.Popen(
            [
                "taskset",
                "-c",
                str(core),
                str(REPO / ".venv" / "bin" / "bwot"),
                "serve",
                "--run",
                str(copy),
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            info = wait_for(f"http://127.0.0.1:{port}/api/info", server)
            start_s = time.perf_counter() - start
            times = []
            for png in sketches:
                body = png.read_bytes()
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/search?k=10",
                    data=body,
                    headers={"Content-Type": "image/png"},
                )
                t0 = time.perf_counter()
                with urllib.request.urlopen(request, timeout=60) as answer:
                    json.loads(answer.read())
                times.append(1000 * (time.perf_counter() - t0))
            rss = server_rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {
        "targets": info["targets"],
        "backend": info["backend"],
        "write_index_s": round(write_s, 1),
        "index_file_mb": round(file_mb, 1),
        "serve_start_s": round(start_s, 1),
        "server_rss_mb": round(rss, 1),
        "queries": len(times),
        "first_ms": round(times[0], 1),
        "search": stats(times[1:]),
    }


def wait_for(url: str, server: subprocess.Popen, timeout: float = 1800) -> dict:
    """The JSON at `url` once the server answers (it is loading until then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"bwot serve stopped: {server.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return json.loads(answer.read())
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(url)


def server_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=REPO / "results" / "builtin")
    parser.add_argument("--part", choices=("search", "serve", "all"), default="all")
    parser.add_argument("--sizes", type=int, nargs="+", default=[8987, 30_000, 100_000, 300_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000, help="queries for recall and HNSW latency")
    parser.add_argument("--exact-queries", type=int, default=50, help="queries timed by exact search")
    parser.add_argument(
        "--no-classes", action="store_true", help="search part: one Gaussian, no classes (the hard case)"
    )
    parser.add_argument("--serve-size", type=int, default=1_000_000)
    parser.add_argument("--serve-queries", type=int, default=60)
    parser.add_argument("--core", type=int, default=min(os.sched_getaffinity(0)))
    parser.add_argument("--out", type=Path, default=OUT / "query-large.json")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.core})
    index = read_index(args.run / "index" / "ot.h5")
    real, labels, distance = index.embeddings, index.labels, index.distance
    result = {
        "run": str(args.run),
        "hnsw_above": HNSW_ABOVE,
        "core": args.core,
        "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
    }
    if args.part in ("search", "all"):
        result["search"] = search_part(
            real, labels, distance, args.sizes, args.queries, args.exact_queries, not args.no_classes
        )
    if args.part in ("serve", "all"):
        result["serve"] = serve_part(args.run, real, labels, args.serve_size, args.serve_queries, args.core)
    result["load_average"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for row in result.get("search", []):
        print(
            f"\n{row['targets']:,} targets ({row['data']}, d = {row['dim']}): "
            f"graph built in {row['build_s']} s; per model "
            f"{row['graph_file_bytes_per_model']} B of graph in the file (beside "
            f"{row['embeddings_file_bytes_per_model']} B of embedding), "
            f"{row['graph_memory_bytes_per_model']} B in memory"
        )
        print("| search | p50 | p90 | recall@10 |\n|---|--:|--:|--:|")
        print(f"| exact | {row['exact']['p50_ms']} ms | {row['exact']['p90_ms']} ms | 1 |")
        for ef, s in row["hnsw"].items():
            print(f"| hnsw, efSearch {ef} | {s['p50_ms']} ms | {s['p90_ms']} ms | {s['recall_at_10']} |")
    if "serve" in result:
        print("\n" + json.dumps(result["serve"], indent=2))


if __name__ == "__main__":
    main()
