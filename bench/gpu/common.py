"""What every section of the GPU check shares: paths, SHREC'14's sizes, the two modes' `Sizes`, helpers.

bench/gpu is not a package: run.py, run as a script, has bench/gpu first on sys.path, so the sections are
plain top-level modules (`import metric`, `from common import Sizes`). Spawned children get the parent's
sys.path, so their targets resolve by module (`metric._graphs_worker`, `shared._shared_worker`); load the
sibling modules by import, never with `load_bench` (a module it loads is not in sys.modules, so its
functions cannot be sent to a spawned child).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RUN = HERE / "run.py"  # the entry point (its --render-views runs the render child)
# glvnd's EGL vendor files: the standard folders, and where some GPU images mount NVIDIA's driver
VENDOR_DIRS = tuple(
    Path(d) for d in ("/usr/share/glvnd/egl_vendor.d", "/etc/glvnd/egl_vendor.d",
                      "/usr/local/nvidia/share/glvnd/egl_vendor.d")
)  # fmt: skip
MESA_VENDOR = VENDOR_DIRS[0] / "50_mesa.json"
# SHREC'14 at the paper's settings: what the goals are about
SHREC14_STEPS = 484_500  # metric steps (170 epochs x 2850)
SHREC14_IMAGES = 453_340  # 8987 models x 20 views + 13680 sketches x 20 rotations
SHREC14_VIEWS = 179_740  # 8987 models x 20 views


@dataclass(frozen=True)
class Sizes:
    """What a mode runs: the GPU mode the real sizes, the CPU mode tiny ones."""

    dim: int  # feature dimension of the metric stage
    sketch_widths: tuple[int, ...]
    shape_widths: tuple[int, ...]
    out_dim: int
    classes: int
    shapes: int
    sketches: int
    rotations: int
    warmup: int  # training steps before timing (CUDA graphs: captured here)
    steps: int  # timed steps
    profile_steps: int
    feature_px: int
    feature_items: int  # items of 20 images in the extraction shards
    distinct_items: int  # drawn items, repeated to fill the shards
    loop_images: int
    worker_counts: tuple[int | None, ...]  # None: the SHREC configs' features.workers
    render_meshes: int
    render_procs: tuple[int, ...]
    render_passes: int
    shared_steps: int
    shared_losses: int | None  # losses trained at once: the first of the registry (None: all of it)


GPU_SIZES = Sizes(
    dim=4096, sketch_widths=(2000, 1000, 500), shape_widths=(2000, 2000, 1000, 500), out_dim=100,
    classes=171, shapes=1026, sketches=855, rotations=4, warmup=50, steps=1000, profile_steps=30,
    feature_px=224, feature_items=1200, distinct_items=60, loop_images=200, worker_counts=(None, 8),
    render_meshes=12, render_procs=(1, 8), render_passes=2, shared_steps=1000, shared_losses=None,
)  # fmt: skip
CPU_SIZES = Sizes(
    dim=256, sketch_widths=(128, 64), shape_widths=(128, 128, 64), out_dim=16,
    classes=12, shapes=48, sketches=48, rotations=2, warmup=3, steps=10, profile_steps=3,
    feature_px=64, feature_items=12, distinct_items=6, loop_images=20, worker_counts=(0,),
    render_meshes=4, render_procs=(1, 2), render_passes=1, shared_steps=10, shared_losses=2,
)  # fmt: skip


def load_bench(stage: str) -> Any:
    """bench/<stage>/run.py as a module (its helpers are reused here)."""
    spec = importlib.util.spec_from_file_location(f"bench_{stage}_run", REPO / "bench" / stage / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sync(device: torch.device) -> None:
    """Wait for the device (CUDA); nothing on a CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def python_env() -> dict[str, str]:
    """The environment for child processes: this checkout's src first on PYTHONPATH."""
    path = os.pathsep.join(p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def egl_env(vendor: str) -> dict[str, str]:
    """`python_env` with EGL pinned to one glvnd vendor ("nvidia" or "mesa") when its vendor file is found
    (__EGL_VENDOR_LIBRARY_FILENAMES); otherwise glvnd's own choice (on a CPU machine: Mesa)."""
    env = python_env()
    name = "10_nvidia.json" if vendor == "nvidia" else MESA_VENDOR.name
    found = [d / name for d in VENDOR_DIRS if (d / name).is_file()]
    if found:
        env["__EGL_VENDOR_LIBRARY_FILENAMES"] = str(found[0])
    return env
