"""Benchmark of `bwot query` at SHREC14 size: milliseconds per sketch on one CPU core, after loading.

A run the size of SHREC14 with its config's networks (config/shrec14.yaml: AlexNet fc7 at 224 px,
untrained here, the speed does not depend on the weights; metric networks 4096 -> ... -> 100; 8987
target models in 171 classes), its retrieval index built by `bwot.query.build_index`, and SHREC-like
1111 px sketch PNGs (bench/sketches). Pinned to one core (sched_setaffinity, one thread for torch,
OpenBLAS and OpenMP). Per query, side by side:

- `Retriever.search(png, k=10)` end to end, and its steps: decode + preprocess (upright), the CNN (one
  image), the sketch metric network (a tile of 16 rows), distances to the 8987 targets + stable ranking;
- the same query re-embedding the targets (what it would cost without the index: the 8987 pooled shape
  features through the shape network, as `evaluate` does once);
- the price of bit-exactness: the metric network on 1 row instead of a tile of 16.

Also: loading (`Retriever(...)`: index, checksums, networks), building the index, and the cold start:
`bwot query sketch.png --run R` as a new process on the same core, from its start to its printed answer
(`--starts` times; the first after dropping nothing: the files are in the page cache, as on a second
call), with where its time goes: the imports (`python -X importtime`, the top-level packages) and each
step of loading, timed in this process after its own imports.

With `--against REV` the cold start of that revision (a temporary git worktree, its src/ on PYTHONPATH)
is timed in turns with this checkout's, on the same index.

    .venv/bin/python bench/query/run.py [--queries 30] [--repeat 3] [--core 0] [--starts 5] [--against REV]
Results: bench/out/query.json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from threads import one_thread  # bench/query/threads.py, beside this script

one_thread()  # before numpy and torch load their thread pools

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from bwot.config import SketchesConfig  # noqa: E402
from bwot.evaluation.distances import DistanceMatrix  # noqa: E402
from bwot.evaluation.evaluate import embed_targets  # noqa: E402
from bwot.evaluation.metrics import stable_argsort_rows  # noqa: E402
from bwot.features import build_backbone  # noqa: E402
from bwot.features.inference import embed_upright, load_backbone  # noqa: E402
from bwot.io import h5_writer, save_torch, write_strings  # noqa: E402
from bwot.metric import MetricNets, load_metric_model, save_metric_model  # noqa: E402
from bwot.query import Retriever, build_index  # noqa: E402
from bwot.query.index import read_index  # noqa: E402
from bwot.query.retriever import feature_width, index_path  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "bench" / "out"
N_TARGETS, N_CLASSES, SIZE = 8987, 171, 224


def sketch_pngs(folder: Path, n: int) -> list[Path]:
    """SHREC-like 1111 px sketch PNGs, drawn by bench/sketches/run.py."""
    spec = importlib.util.spec_from_file_location("bench_sketches", REPO / "bench" / "sketches" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder.mkdir(parents=True)
    return module.make_pngs(folder, n)


def shrec14_run(root: Path, rng: np.random.Generator) -> tuple[Path, float]:
    """results/shrec14-bench/ with what the index needs; returns it and the index build time (s)."""
    run = root / "results" / "shrec14-bench"
    labels = np.sort(rng.integers(0, N_CLASSES, N_TARGETS))
    labels[:N_CLASSES] = np.arange(N_CLASSES)  # every class has a target
    ids = [f"M{i:06d}" for i in range(N_TARGETS)]
    (run / "manifest").mkdir(parents=True)
    pd.DataFrame({"id": ids, "class": [f"c{x}" for x in labels], "label": labels, "path": "m.off"}).to_csv(
        run / "manifest" / "models.csv", index=False
    )
    (run / "manifest" / "classes.txt").write_text("".join(f"c{i}\n" for i in range(N_CLASSES)))
    with h5_writer(run / "views" / "shard-0.h5") as f:  # one 64 px view each (thumbnails only)
        f["images"] = rng.integers(0, 256, (N_TARGETS, 1, 64, 64), dtype=np.uint8)
        write_strings(f, "ids", ids)
        f["labels"] = labels
    (run / "views" / "shard-0.skipped.csv").write_text("id,path,reason\n")
    with h5_writer(run / "features" / "shapes.h5") as f:
        f["pooled"] = np.abs(rng.normal(size=(N_TARGETS, 4096))).astype(np.float32)
        write_strings(f, "ids", ids)
        f["labels"] = labels
    net = build_backbone("alexnet", "fc7", N_CLASSES)
    ckpt = {"backbone": "alexnet", "layer": "fc7", "input_size": SIZE, "num_classes": N_CLASSES}
    save_torch(run / "backbone" / "sketches.pt", ckpt | {"state_dict": net.state_dict()})
    model = run / "metric" / "ot" / "seed-0" / "model.pt"
    nets = MetricNets(4096, 4096, [2000, 1000, 500], [2000, 2000, 1000, 500], 100)  # the defaults
    save_metric_model(model, nets, {"loss": "ot"})
    start = time.perf_counter()
    build_index(
        run / "index" / "ot.h5",
        metric_model=model,
        backbone=run / "backbone" / "sketches.pt",
        shapes=run / "features" / "shapes.h5",
        views=[run / "views" / "shard-0.h5"],
        models_csv=run / "manifest" / "models.csv",
        classes_txt=run / "manifest" / "classes.txt",
        skipped_targets=[run / "views" / "shard-0.skipped.csv"],
        sketches=SketchesConfig(size=SIZE),
    )
    return run, time.perf_counter() - start


def cold_start(run: Path, png: Path, core: int, starts: int, src: Path | None = None) -> dict:
    """`bwot query png --run run` from process start to printed answer (s), and its imports' shares; with
    `src`, the bwot of that source tree (PYTHONPATH) answers."""
    command = ["taskset", "-c", str(core), str(REPO / ".venv" / "bin" / "bwot"), "query", str(png)]
    command += ["--run", str(run), "-k", "10"]
    # Python as installed: bytecode cached (__pycache__) from the first start on, whatever this shell says
    user = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if src is not None:
        user["PYTHONPATH"] = str(src)
    walls = []
    for _ in range(starts):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=user)
        walls.append(time.perf_counter() - start)
    env = user | {"PYTHONPROFILEIMPORTTIME": "1"}
    traced = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    imports: dict[str, float] = {}
    for line in traced.stderr.splitlines():  # "import time: self [us] | cumulative | name"
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = (part.rstrip() for part in line.split("|"))
            if not name.startswith("  ") and cumulative.strip().isdigit():  # top level only
                package = name.strip().split(".")[0]
                imports[package] = imports.get(package, 0.0) + int(cumulative) / 1e6
    top = dict(sorted(imports.items(), key=lambda kv: -kv[1])[:8])
    return {
        "wall_s": [round(w, 2) for w in walls],
        "median_s": round(statistics.median(walls), 2),
        "imports_s": round(sum(imports.values()), 2),
        "imports_top_s": {k: round(v, 2) for k, v in top.items()},
    }


def cold_starts(run: Path, png: Path, args: argparse.Namespace) -> dict[str, dict]:
    """This checkout's cold start, and with `--against REV` that revision's, in turns of one start each
    (a drift of the machine falls on both)."""
    if args.against is None:
        return {"this checkout": cold_start(run, png, args.core, args.starts)}
    spec = importlib.util.spec_from_file_location("bench_serve", REPO / "bench" / "query" / "serve.py")
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    with serve.worktree(args.against) as other:
        turns = [
            (cold_start(run, png, args.core, 1, other / "src"), cold_start(run, png, args.core, 1))
            for _ in range(args.starts)
        ]
    out = {}
    for name, runs in ((args.against, [a for a, _ in turns]), ("this checkout", [b for _, b in turns])):
        walls = [r["wall_s"][0] for r in runs]
        out[name] = runs[-1] | {"wall_s": walls, "median_s": round(statistics.median(walls), 2)}
    return out


def load_steps(run: Path) -> dict[str, float]:
    """Each step of `Retriever(run)`'s loading, in order (s): what `Retriever.__init__` does."""
    times, start = {}, time.perf_counter()

    def step(name: str) -> None:
        nonlocal start
        times[name] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()

    index = read_index(index_path(run))
    step("read the index")
    index.check_files()
    step("SHA-256 of the two model files")
    backbone, meta = load_backbone(index.files["backbone"], "cpu")
    step("load the sketch CNN")
    metric = load_metric_model(index.files["metric_model"], "cpu")
    step("load the metric network")
    index.check_models(metric, feature_width(backbone, int(meta["input_size"]), torch.device("cpu")))
    step("check the networks fit (one blank image)")
    return times


def per_item_ms(fn: Callable, items: list, repeat: int) -> list[float]:
    """Each item's best of `repeat` wall times, in ms (the best discounts other processes' bursts)."""
    best = [float("inf")] * len(items)
    fn(items[0])  # warm-up: lazily built kernels and caches
    for _ in range(repeat):
        for i, item in enumerate(items):
            start = time.perf_counter()
            fn(item)
            best[i] = min(best[i], 1000 * (time.perf_counter() - start))
    return best


def summary(times: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(times), 1),
        "p90_ms": round(float(np.percentile(times, 90)), 1),
        "max_ms": round(max(times), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=30, help="sketch PNGs queried")
    parser.add_argument("--repeat", type=int, default=3, help="times each is queried (the best is kept)")
    parser.add_argument("--baseline-queries", type=int, default=5, help="queries re-embedding the targets")
    parser.add_argument("--core", type=int, default=min(os.sched_getaffinity(0)), help="the CPU to pin to")
    parser.add_argument("--starts", type=int, default=5, help="cold starts of `bwot query` timed")
    parser.add_argument("--against", default=None, help="a git revision whose cold start is timed beside")
    parser.add_argument("--out", type=Path, default=OUT / "query.json")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.core})
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        run, build_s = shrec14_run(Path(tmp), rng)
        pngs = sketch_pngs(Path(tmp) / "sketches", args.queries)
        cold = cold_starts(run, pngs[0], args)
        steps_s = load_steps(run)
        start = time.perf_counter()
        retriever = Retriever(run, "ot")
        load_s = time.perf_counter() - start

        images = {p: retriever.prepare(p) for p in pngs}
        embeddings = {p: retriever.embed(images[p][None]) for p in pngs}
        with torch.inference_mode():  # a sketch feature (1, 4096), as the CNN gives it
            feature = retriever.backbone.embed(torch.zeros(1, 1, SIZE, SIZE)).numpy()
        metric = retriever.metric
        single_row = load_metric_model(run / "metric" / "ot" / "seed-0" / "model.pt")
        single_row.tile_rows = 1  # the metric network without the fixed tile (other bits: for the price only)

        def cnn(p: Path) -> torch.Tensor:
            return embed_upright(
                retriever.backbone, torch.from_numpy(images[p][None]), SIZE, retriever.device
            )

        def rank(p: Path) -> np.ndarray:
            return stable_argsort_rows(DistanceMatrix(embeddings[p], retriever.index.embeddings)[:])[:, :10]

        shapes = run / "features" / "shapes.h5"
        steps = {
            "search(png, k=10), end to end": per_item_ms(
                lambda p: retriever.search(p, k=10), pngs, args.repeat
            ),
            "- decode + preprocess (upright)": per_item_ms(retriever.prepare, pngs, args.repeat),
            "- CNN, one image (AlexNet fc7, 224 px)": per_item_ms(cnn, pngs, args.repeat),
            "- metric network (a tile of 16 rows)": per_item_ms(
                lambda p: metric.embed_sketches(feature), pngs, args.repeat
            ),
            "- distances to 8987 targets + stable ranking": per_item_ms(rank, pngs, args.repeat),
            "metric network on 1 row (no tile: other bits)": per_item_ms(
                lambda p: single_row.embed_sketches(feature), pngs, args.repeat
            ),
            "re-embedding the 8987 targets (per query, without the index)": per_item_ms(
                lambda p: embed_targets(metric, shapes), pngs[: args.baseline_queries], 1
            ),
        }
    result = {
        "targets": N_TARGETS,
        "classes": N_CLASSES,
        "sketch_png_px": 1111,
        "cnn": f"alexnet fc7 at {SIZE} px",
        "queries": args.queries,
        "repeat": args.repeat,
        "core": args.core,
        "load_s": round(load_s, 2),
        "load_steps_s": steps_s,
        "cold_start": cold,
        "build_index_s": round(build_s, 1),
        "steps": {name: summary(times) for name, times in steps.items()},
        "load_average": os.getloadavg()[0],
        "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"torch {torch.__version__}",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("| per query (one core) | median | p90 | max |\n|---|--:|--:|--:|")
    for name, s in result["steps"].items():
        print(f"| {name} | {s['median_ms']} ms | {s['p90_ms']} ms | {s['max_ms']} ms |")
    print(f"\nloading (Retriever): {result['load_s']} s; building the index: {result['build_index_s']} s")
    print(f"loading, step by step: {json.dumps(steps_s)}")
    print(f"bwot query, start to answer (s): {json.dumps(cold)}")
    print(f"load average {result['load_average']:.1f}; {result['machine']}")


if __name__ == "__main__":
    main()
