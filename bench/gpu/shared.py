"""The shared section: the registry's losses trained at once, one process each, on one device."""

from __future__ import annotations

import multiprocessing as mp
import time
from dataclasses import asdict
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Barrier
from pathlib import Path
from queue import Empty
from typing import Any

import torch
from common import Sizes, sync
from metric import metric_cfg, write_metric_features


def _shared_worker(
    loss: str,
    shapes: str,
    sketches: str,
    tmp: str,
    cfg: dict[str, Any],
    sizes: dict[str, Any],
    barrier: Barrier,
    queue: mp.Queue,
) -> None:
    """(In a spawned child: resolved as `shared._shared_worker`.) One loss's training: warm-up, barrier,
    timed steps; puts (loss, steps, start, end) on `queue`."""
    from bwot.config import MetricConfig
    from bwot.metric.trainer import run_steps, setup

    torch.set_num_threads(1)
    cfg = MetricConfig.from_mapping(cfg)
    run = setup(shapes, sketches, Path(tmp) / f"ck-shared-{loss}", cfg, loss, seed=0)
    run_steps(run, stop_at=sizes["warmup"])
    sync(run.device)
    barrier.wait()
    start = time.monotonic()
    run_steps(run, stop_at=sizes["warmup"] + sizes["shared_steps"])
    sync(run.device)
    queue.put((loss, sizes["shared_steps"], start, time.monotonic()))


def shared_device(device: torch.device, sizes: Sizes, tmp: Path) -> dict[str, Any]:
    """The losses of the registry trained at once (all of them on a GPU), one process each, on one device:
    steps/s per loss and in all (eager steps)."""
    from bwot.losses.registry import LOSSES

    shapes, sketches = write_metric_features(tmp / "shared-features", sizes)
    losses = list(LOSSES)[: sizes.shared_losses]
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(len(losses)), ctx.Queue()
    cfg = metric_cfg(sizes, device, False)
    procs = [
        ctx.Process(
            target=_shared_worker,
            args=(loss, str(shapes), str(sketches), str(tmp), cfg, asdict(sizes), barrier, queue),
        )
        for loss in losses
    ]
    for p in procs:
        p.start()
    results = collect(procs, queue, timeout=600)
    per_loss = {loss: round(n / (end - start), 1) for loss, n, start, end in results}
    span = max(r[3] for r in results) - min(r[2] for r in results)
    return {
        "processes": len(procs),
        "steps_per_s": per_loss,
        "aggregate_steps_per_s": round(sum(r[1] for r in results) / span, 1),
        "eager": True,
    }


def collect(procs: list[BaseProcess], queue: mp.Queue, timeout: float) -> list[tuple[str, int, float, float]]:
    """One result per process from `queue`; if one dies first (the others would wait at the barrier for
    ever) or `timeout` seconds pass, the rest are ended and the section fails with their exit codes."""
    results, deadline = [], time.monotonic() + timeout
    while len(results) < len(procs) and time.monotonic() < deadline:
        try:
            results.append(queue.get(timeout=5))
        except Empty:
            if any(p.exitcode not in (None, 0) for p in procs):
                break
    for p in procs:
        if len(results) < len(procs) and p.is_alive():
            p.terminate()
        p.join()
    if len(results) < len(procs):
        codes = [p.exitcode for p in procs]
        raise RuntimeError(f"{len(procs) - len(results)} processes gave no result (exit codes {codes})")
    return results
