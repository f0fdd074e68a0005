"""The metric section: training steps/s of every loss of the registry through bwot.metric.trainer, eager
and (CUDA) with CUDA graphs in a child process, host syncs counted, and a profile of one loss's step."""

from __future__ import annotations

import math
import multiprocessing as mp
import time
import traceback
import warnings
from dataclasses import asdict
from pathlib import Path
from queue import Empty
from typing import Any

import numpy as np
import torch
from common import Sizes, sync

PROFILE_LOSS = "ot"  # the loss whose step is profiled: the paper's


def write_metric_features(folder: Path, sizes: Sizes, seed: int = 0) -> tuple[Path, Path]:
    """features/shapes.h5 and features/sketches.h5 by the contract: random non-negative features."""
    from bwot.io import h5_writer, write_strings

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    shape_labels = np.arange(sizes.shapes) % sizes.classes
    with h5_writer(folder / "shapes.h5") as f:
        pooled = np.abs(rng.normal(size=(sizes.shapes, sizes.dim))).astype(np.float32)
        f["features"] = pooled[:, None]
        f["pooled"] = pooled
        f["labels"] = shape_labels
        write_strings(f, "ids", [f"m{i}" for i in range(sizes.shapes)])
    n = sizes.sketches + sizes.classes  # a few test sketches: the split must exist
    with h5_writer(folder / "sketches.h5") as f:
        f["features"] = np.abs(rng.normal(size=(n, sizes.rotations, sizes.dim))).astype(np.float32)
        f["labels"] = np.arange(n) % sizes.classes
        write_strings(f, "ids", [f"s{i}" for i in range(n)])
        write_strings(f, "splits", ["train"] * sizes.sketches + ["test"] * sizes.classes)
    return folder / "shapes.h5", folder / "sketches.h5"


def metric_cfg(sizes: Sizes, device: torch.device, graphs: bool) -> dict[str, Any]:
    """The `metric:` section (a mapping for bwot.config.MetricConfig) of the original setting (schema
    defaults) at these sizes, never validating nor checkpointing inside the timed steps."""
    return {
        "device": str(device),
        "sketch_widths": list(sizes.sketch_widths),
        "shape_widths": list(sizes.shape_widths),
        "out_dim": sizes.out_dim,
        "steps": 10**8,
        "val_every": 10**8,
        "checkpoint_every": 10**8,
        "cuda_graphs": graphs,
    }


def time_training(run: Any, warmup: int, steps: int, count_syncs: bool = False) -> dict[str, Any]:
    """Steady-state steps/s of `run_steps` after `warmup` steps; with `count_syncs` (CUDA), the host
    syncs torch's sync debug mode reports during the timed call (its one history flush included)."""
    from bwot.metric.trainer import run_steps

    run_steps(run, stop_at=warmup)
    sync(run.device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if count_syncs:
            torch.cuda.set_sync_debug_mode("warn")
        start = time.perf_counter()
        try:
            run_steps(run, stop_at=warmup + steps)
        finally:
            if count_syncs:
                torch.cuda.set_sync_debug_mode("default")
        sync(run.device)
        seconds = time.perf_counter() - start
    out = {"steps_per_s": round(steps / seconds, 1), "steps": steps, "seconds": round(seconds, 3)}
    if count_syncs:
        out["host_syncs"] = sum("synchroniz" in str(w.message) for w in caught)
    losses = [row["loss"] for row in run.history[-steps:]]
    out["first_losses"] = [round(x, 6) for x in losses[:5]]
    out["finite"] = all(math.isfinite(x) for x in losses)
    return out


def metric_speed(device: torch.device, sizes: Sizes, tmp: Path) -> dict[str, Any]:
    """Steps/s of every loss through the trainer, eager; on CUDA also with CUDA graphs (in a child
    process: a capture that fails must not leave this process's CUDA context broken), the eager and
    graphed losses compared, the host syncs counted; and a profile of the eager PROFILE_LOSS step."""
    from bwot.losses.registry import LOSSES

    shapes, sketches = write_metric_features(tmp / "features", sizes)
    eager = {loss: timed_loss(loss, shapes, sketches, tmp, sizes, device, False) for loss in LOSSES}
    out: dict[str, Any] = {"losses": {}, "profile": profile_step(device, sizes, shapes, sketches, tmp)}
    graphs = graphs_in_child(list(LOSSES), shapes, sketches, tmp, sizes) if device.type == "cuda" else {}
    for loss in LOSSES:
        res = {"eager": eager[loss], **({"cuda_graphs": graphs[loss]} if loss in graphs else {})}
        if all("first_losses" in r for r in res.values()) and len(res) == 2:
            a, b = np.array(res["eager"]["first_losses"]), np.array(res["cuda_graphs"]["first_losses"])
            res["graphs_vs_eager_max_rel_diff"] = float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-12)))
        speeds = {m: r["steps_per_s"] for m, r in res.items() if isinstance(r, dict) and "steps_per_s" in r}
        res["best_mode"] = max(speeds, key=speeds.get) if speeds else None
        res["best_steps_per_s"] = max(speeds.values()) if speeds else None
        out["losses"][loss] = res
    return out


def timed_loss(
    loss: str, shapes: Path, sketches: Path, tmp: Path, sizes: Sizes, device: torch.device, graphs: bool
) -> dict[str, Any]:
    """`time_training` of one loss (a fresh run, seed 0), or the error it raised."""
    from bwot.config import MetricConfig
    from bwot.metric.trainer import setup

    cfg = MetricConfig.from_mapping(metric_cfg(sizes, device, graphs))
    ck = tmp / f"ck-{loss}-{'graphs' if graphs else 'eager'}"
    try:
        run = setup(shapes, sketches, ck, cfg, loss, seed=0)
        return time_training(run, sizes.warmup, sizes.steps, count_syncs=device.type == "cuda")
    except Exception as exc:  # one loss failing must not cost the others
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-2000:]}


def _graphs_worker(
    losses: list[str], shapes: str, sketches: str, tmp: str, sizes: dict[str, Any], out: mp.Queue
) -> None:
    """(In a spawned child: resolved as `metric._graphs_worker`.) `timed_loss` of each loss with
    cuda_graphs, put on the queue `out`."""
    cuda, files = torch.device("cuda"), (Path(shapes), Path(sketches))
    for loss in losses:
        out.put((loss, timed_loss(loss, *files, Path(tmp), Sizes(**sizes), cuda, True)))


def graphs_in_child(
    losses: list[str], shapes: Path, sketches: Path, tmp: Path, sizes: Sizes
) -> dict[str, dict[str, Any]]:
    """The cuda_graphs timings of `losses`, from a child process; an error for those it did not give."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(
        target=_graphs_worker, args=(losses, str(shapes), str(sketches), str(tmp), asdict(sizes), out)
    )
    child.start()
    results: dict[str, Any] = {}
    while len(results) < len(losses):
        try:
            loss, res = out.get(timeout=5)
        except Empty:
            if not child.is_alive():
                break
            continue
        results[loss] = res
    child.join(timeout=60)
    for loss in losses:
        results.setdefault(loss, {"error": f"the cuda_graphs child ended (exit code {child.exitcode})"})
    return results


def profile_step(
    device: torch.device, sizes: Sizes, shapes: Path, sketches: Path, tmp: Path
) -> dict[str, Any]:
    """torch.profiler over a few eager PROFILE_LOSS steps: the ops that take the most host and device
    time."""
    from torch.profiler import ProfilerActivity, profile

    from bwot.config import MetricConfig
    from bwot.metric.trainer import run_steps, setup

    cfg = MetricConfig.from_mapping(metric_cfg(sizes, device, False))
    run = setup(shapes, sketches, tmp / "ck-profile", cfg, PROFILE_LOSS, seed=0)
    run_steps(run, stop_at=sizes.warmup)
    sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        run_steps(run, stop_at=sizes.warmup + sizes.profile_steps)
        sync(device)
    averages = prof.key_averages()
    tables = {"by_host_time": averages.table(sort_by="self_cpu_time_total", row_limit=12)}
    if device.type == "cuda":
        tables["by_device_time"] = averages.table(sort_by="self_device_time_total", row_limit=12)
    return {"loss": PROFILE_LOSS, "steps": sizes.profile_steps, **tables}
