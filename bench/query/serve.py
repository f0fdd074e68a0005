"""Throughput of `bwot serve` under concurrent clients, side by side with another revision of bwot.

Each server serves the same finished run on a loopback port; clients (threads, one keep-alive connection
each) post the run's own test sketch PNGs to /api/search?k=10 as fast as answers come. Per server and
client count: queries per second and latency p50/p95/max. Each server's answers to every test sketch are
compared with the ranking `evaluate` wrote (eval/ot/seed-0/ranking.npz: the top 10 ids and their float32
distances, bit for bit). Then a soak: `--soak` queries with `--clients` clients on this checkout's
server, its resident memory sampled as they go.

    .venv/bin/python bench/query/serve.py --run results/builtin [--against HEAD] [--clients 8]
        [--queries 2000] [--soak 10000]

`--against REV` serves from a temporary `git worktree` of REV (its src/ on PYTHONPATH, this venv's
packages). Results: bench/out/serve.json and a Markdown table on stdout. Run it with nothing else running.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "bench" / "out"
LISTENING = re.compile(r"(?:listening on|Uvicorn running on) http://127\.0\.0\.1:(\d+)")


def test_sketches(run: Path) -> list[tuple[str, bytes]]:
    """(id, PNG bytes) of the run's test sketches (manifest paths are relative to the workflow folder)."""
    table = pd.read_csv(run / "manifest" / "sketches.csv")
    table = table[table["split"] == "test"]
    workdir = run.resolve().parent.parent
    return [(str(i), (workdir / p).read_bytes()) for i, p in zip(table["id"], table["path"], strict=True)]


@contextmanager
def server(run: Path, src: Path, extra: list[str]) -> Iterator[tuple[int, subprocess.Popen]]:
    """`bwot serve` of the bwot in `src` on a free loopback port: (port, process), once it listens."""
    log = Path(tempfile.mkstemp(suffix=".log")[1])
    env = os.environ | {"PYTHONPATH": str(src)}
    cmd = [sys.executable, "-m", "bwot.cli", "serve", "--run", str(run), "--port", "0", *extra]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        while proc.poll() is None and not (found := LISTENING.search(log.read_text())):
            time.sleep(0.1)
        if proc.poll() is not None:
            raise RuntimeError(f"bwot serve ({src}) did not start:\n{log.read_text()}")
        yield int(found.group(1)), proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.unlink(missing_ok=True)


def query(conn: http.client.HTTPConnection, png: bytes, name: str) -> dict:
    conn.request("POST", "/api/search?k=10", body=png, headers={"X-Sketch-Name": name})
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"{name}: {response.status} {body[:200]!r}")
    return json.loads(body)


def load(port: int, sketches: list[tuple[str, bytes]], clients: int, n: int) -> dict:
    """`n` queries from `clients` threads: throughput and latencies."""
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(n))

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine = []
        for i in counter:  # shared: each index taken once
            sid, png = sketches[i % len(sketches)]
            start = time.perf_counter()
            query(conn, png, sid)
            mine.append(time.perf_counter() - start)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ms = sorted(x * 1000 for x in latencies)
    return {
        "clients": clients,
        "queries": len(ms),
        "qps": len(ms) / wall,
        "p50_ms": statistics.median(ms),
        "p95_ms": ms[int(0.95 * (len(ms) - 1))],
        "max_ms": ms[-1],
    }


def rss_mib(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) / 1024


def matches_evaluate(port: int, sketches: list[tuple[str, bytes]], run: Path) -> int:
    """How many test sketches get evaluate's own top 10 (ids, and float32 distances bit for bit)."""
    ranking = np.load(run / "eval" / "ot" / "seed-0" / "ranking.npz")
    upright = ranking["query_rotations"] == 0
    row = {str(s): i for i, s in enumerate(ranking["query_sketch_ids"]) if upright[i]}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    same = 0
    for sid, png in sketches:
        hits = query(conn, png, sid)["results"]
        ids = [str(x) for x in ranking["target_ids"][ranking["topk"][row[sid]]]]
        dist = np.array([h["distance"] for h in hits], np.float32)
        same += [h["id"] for h in hits] == ids and dist.tobytes() == ranking["topk_dist"][row[sid]].tobytes()
    conn.close()
    return same


def measure(port: int, sketches: list[tuple[str, bytes]], clients: list[int], n: int) -> list[dict]:
    load(port, sketches, 2, 40)  # warm-up
    return [load(port, sketches, c, n if c > 1 else n // 4) for c in clients]


def soak(port: int, pid: int, sketches: list[tuple[str, bytes]], clients: int, n: int) -> dict:
    """`n` queries in tenths, the server's resident memory after each."""
    samples = [rss_mib(pid)]
    for _ in range(10):
        load(port, sketches, clients, n // 10)
        samples.append(rss_mib(pid))
    return {"queries": n, "clients": clients, "rss_mib": [round(x, 1) for x in samples]}


@contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """A temporary checkout of `rev` (git worktree), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bwot-rev-"))
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(folder), rev], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(folder)], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=REPO / "results" / "builtin")
    parser.add_argument("--against", default=None, help="a git revision to compare with (e.g. HEAD)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--queries", type=int, default=2000, help="queries per measurement")
    parser.add_argument("--soak", type=int, default=10000, help="queries of the memory soak (0: none)")
    args = parser.parse_args()
    sketches = test_sketches(args.run)
    client_counts = [1, args.clients]
    result: dict = {
        "run": str(args.run),
        "test_sketches": len(sketches),
        "machine": f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "servers": {},
    }
    with nullcontext() if args.against is None else worktree(args.against) as other:
        variants = {"this checkout": REPO / "src"}
        if other is not None:
            variants = {f"{args.against} ({rev_of(args.against)})": other / "src", **variants}
        for label, src in variants.items():
            with server(args.run, src, []) as (port, proc):
                rows = measure(port, sketches, client_counts, args.queries)
                rows.append({"matches_evaluate": matches_evaluate(port, sketches, args.run)})
                if src == REPO / "src" and args.soak:
                    result["soak"] = soak(port, proc.pid, sketches, args.clients, args.soak)
            result["servers"][label] = rows
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "serve.json").write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))


def rev_of(rev: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", rev], capture_output=True, text=True, check=True
    ).stdout.strip()


def table(result: dict) -> str:
    lines = [
        f"{result['machine']}, {result['date']}; run {result['run']} "
        f"({result['test_sketches']} test sketches)",
        "",
        "| server | clients | queries/s | p50 | p95 | max |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    same = []
    for label, rows in result["servers"].items():
        same.append(f"{label} {rows[-1]['matches_evaluate']} of {result['test_sketches']}")
        for r in rows[:-1]:
            lines.append(
                f"| {label} | {r['clients']} | {r['qps']:.1f} | {r['p50_ms']:.0f} ms | {r['p95_ms']:.0f} ms "
                f"| {r['max_ms']:.0f} ms |"
            )
    lines.append(f"\nTest sketches answered with evaluate's top 10, bit for bit: {'; '.join(same)}")
    if "soak" in result:
        s = result["soak"]
        lines.append(f"\nSoak, {s['queries']} queries with {s['clients']} clients, RSS (MiB): {s['rss_mib']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
