"""The GPU check (`make gpu-check`): bwot's GPU path proven and timed in one run, with its goals.

On a CUDA machine (sized to fit 8 minutes on one H200 with the set-up; not yet measured there) it
runs and records, section by section:

1. tests: the test suite's device-parametrised tests on `cuda` (`pytest -m gpu`: loss values and
   gradients CPU vs CUDA in float64, Sinkhorn, the metric networks, feature extraction, the trainer with
   no host sync per step, CUDA graphs, claim_gpu on the real device);
2. metric: training steps/s of the original setting (B = 30, 4096-d features, widths 2000-1000-500 and
   2000-2000-1000-500, out 100) for each loss of bwot.losses.registry.LOSSES, on synthetic features,
   through bwot.metric.trainer's own `setup` + `run_steps`, steady state (after warm-up), eager and with
   `cuda_graphs`; the host syncs counted by torch's sync debug mode; a torch.profiler summary of one
   loss's step (where the time goes);
3. features: extract_features images/s (AlexNet fc7 and resnet18 at 224 px, the SHREC configs' AMP and
   workers) against the bare forward (the model alone on resident tensors, same batch and AMP) and a
   per-image loop (open the file, one image, forward, copy back);
4. render: the same meshes rendered by NVIDIA's EGL and by Mesa's llvmpipe, each pinned with
   __EGL_VENDOR_LIBRARY_FILENAMES in its own process (on a CPU machine both are Mesa: identical), compared
   within RENDER_TOL; views/s at 224 px with 1 and 8 processes (bench/render/run.py);
5. workflow: config/test-tiny.yaml end to end with features.device and metric.device set to cuda;
6. shared: every loss of the registry trained at once, one process each, on the one GPU (aggregate
   steps/s).

Without CUDA it says so in one line and runs the same sections in a small CPU mode (tiny sizes, a few
steps, the workflow as a dry run), so that CI keeps the script working; no GPU goal is checked then.
Results: bench/out/gpu.json (rewritten after every section, so a run cut short keeps what it measured)
and bench/out/gpu.txt (also printed). Exit status 1 when a correctness check fails or a section breaks.

This file is the entry point (options, the sections in order, the results written); each section is a
module beside it: common.py (Sizes of the two modes, paths, helpers), environment.py, device_tests.py,
metric.py, features.py, render.py, tiny_workflow.py, shared.py, then goals.py and summary.py.

    .venv/bin/python bench/gpu/run.py [--cpu] [--only metric features ...] [--out-dir bench/out]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from common import CPU_SIZES, GPU_SIZES, REPO
from device_tests import device_tests
from environment import environment
from features import feature_speed
from goals import goals
from metric import metric_speed
from render import RENDER_TOL, render_check, render_views_worker
from shared import shared_device
from summary import summary_text
from tiny_workflow import workflow


def run_section(name: str, fn: Callable[[], dict[str, Any]], results: dict[str, Any]) -> None:
    """Run one section, recording its result, its seconds and any error (the other sections go on)."""
    start = time.perf_counter()
    try:
        out = fn()
    except Exception as exc:
        out = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-4000:]}
    out["seconds"] = round(time.perf_counter() - start, 1)
    results["sections"][name] = out
    print(f"[gpu-check] {name}: {out['seconds']} s" + (f", ERROR {out['error']}" if "error" in out else ""),
          flush=True)  # fmt: skip


SECTIONS = ("tests", "metric", "features", "render", "workflow", "shared")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="the CPU mode even where CUDA is present")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--out-dir", type=Path, default=REPO / "bench" / "out")
    parser.add_argument("--render-views", nargs="+", help=argparse.SUPPRESS)  # internal: the render child
    args = parser.parse_args()
    if args.render_views:
        out, size, *meshes = args.render_views
        render_views_worker(Path(out), int(size), meshes)
        return 0
    gpu = torch.cuda.is_available() and not args.cpu
    device = torch.device("cuda" if gpu else "cpu")
    sizes = GPU_SIZES if gpu else CPU_SIZES
    if not gpu:
        why = "--cpu given" if torch.cuda.is_available() else "no CUDA device on this machine"
        print(f"[gpu-check] {why}: CPU mode (tiny sizes, few steps; no GPU goal is checked)", flush=True)
    torch.set_num_threads(1 if not gpu else min(4, os.cpu_count() or 1))
    start = time.perf_counter()
    results: dict[str, Any] = {
        "mode": "cuda" if gpu else "cpu",
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "sizes": asdict(sizes),
        "environment": environment(device),
        "tolerances": {"render": RENDER_TOL},
        "sections": {},
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bwot-gpu-check-") as tmp:
        tmp = Path(tmp)
        fns = {
            "tests": lambda: device_tests(device, sizes),
            "metric": lambda: metric_speed(device, sizes, tmp / "metric"),
            "features": lambda: feature_speed(device, sizes, tmp / "features"),
            "render": lambda: render_check(device, sizes, tmp / "render"),
            "workflow": lambda: workflow(device, tmp),
            "shared": lambda: shared_device(device, sizes, tmp / "shared"),
        }
        for name in args.only or SECTIONS:
            (tmp / name).mkdir(exist_ok=True)
            run_section(name, fns[name], results)
            results["seconds"] = round(time.perf_counter() - start, 1)
            results["goals"] = goals(results, gpu)
            (args.out_dir / "gpu.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    text = summary_text(results)
    (args.out_dir / "gpu.txt").write_text(text)
    print(text)
    broken = [n for n, sec in results["sections"].items() if "error" in sec]
    failed = [g["goal"] for g in results["goals"] if g["kind"] == "check" and g["status"] == "FAIL"]
    return 1 if broken or failed else 0


if __name__ == "__main__":
    sys.exit(main())
