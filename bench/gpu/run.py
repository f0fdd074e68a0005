"""The GPU check (`make gpu-check`): bwot's GPU path proven and timed in one run, with its goals.

On a CUDA machine (sized to fit 8 minutes on one H200 with the set-up; not yet measured there) it
runs and records, section by section:

1. tests: the test suite's device-parametrised tests on `cuda` (`pytest -m gpu`: loss values and
   gradients CPU vs CUDA in float64, Sinkhorn, the metric networks, feature extraction, the trainer with
   no host sync per step, CUDA graphs, claim_gpu on the real device);
2. metric: training steps/s of the original setting (B = 30, 4096-d features, widths 2000-1000-500 and
   2000-2000-1000-500, out 100) for each loss, on synthetic features, through bwot.metric.trainer's own
   `setup` + `run_steps`, steady state (after warm-up), eager and with `cuda_graphs`; the host syncs
   counted by torch's sync debug mode; a torch.profiler summary of one loss's step (where the time goes);
3. features: extract_features images/s (AlexNet fc7 and resnet18 at 224 px, the SHREC configs' AMP and
   workers) against the bare forward (the model alone on resident tensors, same batch and AMP) and a
   per-image loop (open the file, one image, forward, copy back);
4. render: the same meshes rendered by NVIDIA's EGL and by Mesa's llvmpipe, each pinned with
   __EGL_VENDOR_LIBRARY_FILENAMES in its own process (on a CPU machine both are Mesa: identical), compared
   within RENDER_TOL; views/s at 224 px with 1 and 8 processes (bench/render/run.py);
5. workflow: config/test-tiny.yaml end to end with features.device and metric.device set to cuda;
6. shared: the four losses trained at once in four processes on the one GPU (aggregate steps/s).

Without CUDA it says so in one line and runs the same sections in a small CPU mode (tiny sizes, a few
steps, the workflow as a dry run), so that CI keeps the script working; no GPU goal is checked then.
Results: bench/out/gpu.json (rewritten after every section, so a run cut short keeps what it measured)
and bench/out/gpu.txt (also printed). Exit status 1 when a correctness check fails or a section breaks.

    .venv/bin/python bench/gpu/run.py [--cpu] [--only metric features ...] [--out-dir bench/out]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import multiprocessing as mp
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from queue import Empty
from typing import Any

import numpy as np
import torch
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# glvnd's EGL vendor files: the standard folders, and where some GPU images mount NVIDIA's driver
VENDOR_DIRS = tuple(
    Path(d) for d in ("/usr/share/glvnd/egl_vendor.d", "/etc/glvnd/egl_vendor.d",
                      "/usr/local/nvidia/share/glvnd/egl_vendor.d")
)  # fmt: skip
MESA_VENDOR = VENDOR_DIRS[0] / "50_mesa.json"
WORKFLOW_PARTS = ("Snakefile", "rules", "workflow", "config", "envs")
TEST_FILES = tuple(f"tests/test_{name}.py" for name in ("losses", "metric", "features", "device"))
# SHREC'14 at the paper's settings: what the goals are about
SHREC14_STEPS = 484_500  # metric steps (170 epochs x 2850)
SHREC14_IMAGES = 453_340  # 8987 models x 20 views + 13680 sketches x 20 rotations
SHREC14_VIEWS = 179_740  # 8987 models x 20 views
GOAL_STEPS_S, GOAL_VS_BARE, GOAL_VS_LOOP = 600.0, 0.85, 10.0
GOAL_EXTRACT_S, GOAL_RENDER_S = 300.0, 600.0
# rendering NVIDIA vs Mesa: per view, mean |difference| and the share of pixels off by more than 16
# grey levels (edges: multisample positions may differ), and the overlap of the ink
RENDER_TOL = {"mean_abs": 1.0, "share_over_16": 0.01, "ink_iou": 0.99}


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
    shared_losses: int  # losses trained at once (the first of the registry)


GPU_SIZES = Sizes(
    dim=4096, sketch_widths=(2000, 1000, 500), shape_widths=(2000, 2000, 1000, 500), out_dim=100,
    classes=171, shapes=1026, sketches=855, rotations=4, warmup=50, steps=1000, profile_steps=30,
    feature_px=224, feature_items=1200, distinct_items=60, loop_images=200, worker_counts=(None, 8),
    render_meshes=12, render_procs=(1, 8), render_passes=2, shared_steps=1000, shared_losses=4,
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


# ---------------------------------------------------------------------------------------- environment
def environment(device: torch.device) -> dict[str, Any]:
    """The machine: CPU, torch, CUDA device and driver, EGL vendors installed."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "cuda": device.type == "cuda",
        "egl_vendors": sorted(p.name for d in VENDOR_DIRS if d.is_dir() for p in d.glob("*.json")),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["gpu_count"] = torch.cuda.device_count()
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1)
        smi = shutil.which("nvidia-smi")
        if smi:
            out = subprocess.run(
                [smi, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True
            )
            info["driver"] = out.stdout.strip().splitlines()[0] if out.stdout.strip() else None
    return info


# ---------------------------------------------------------------------------------------------- tests
def device_tests(device: torch.device, sizes: Sizes) -> dict[str, Any]:
    """`pytest -m gpu` on the device-parametrised test files: counts of passed/failed/skipped."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu", *TEST_FILES]
    if device.type == "cuda":
        cmd += ["-n", "4"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=python_env(), timeout=600)
    counts = pytest_counts(proc.stdout)
    ok = proc.returncode in (0, 5) and counts.get("failed", 0) == 0 and counts.get("error", 0) == 0
    if device.type == "cuda":
        ok = ok and counts.get("passed", 0) > 0
    return {"ok": ok, "returncode": proc.returncode, "counts": counts, "tail": proc.stdout[-3000:]}


def pytest_counts(output: str) -> dict[str, int]:
    """{"passed": n, "skipped": m, ...} from pytest's last summary line."""
    lines = [ln for ln in output.strip().splitlines() if " in " in ln and ("passed" in ln or "skipped" in ln)]
    counts: dict[str, int] = {}
    for part in (lines[-1] if lines else "").strip("= ").split(" in ")[0].split(","):
        words = part.split()
        if len(words) == 2 and words[0].isdigit():
            counts[words[1].rstrip("s") if words[1] == "errors" else words[1]] = int(words[0])
    return counts


# --------------------------------------------------------------------------------------------- metric
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
    graphed losses compared, the host syncs counted; and a profile of the eager ot step."""
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


def _graphs_worker(losses: list[str], shapes: str, sketches: str, tmp: str, sizes: dict, out) -> None:
    """(In a child process.) `timed_loss` of each loss with cuda_graphs, put on the queue `out`."""
    cuda, files = torch.device("cuda"), (Path(shapes), Path(sketches))
    for loss in losses:
        out.put((loss, timed_loss(loss, *files, Path(tmp), Sizes(**sizes), cuda, True)))


def graphs_in_child(losses: list[str], shapes: Path, sketches: Path, tmp: Path, sizes: Sizes) -> dict:
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


def profile_step(device: torch.device, sizes: Sizes, shapes: Path, sketches: Path, tmp: Path) -> dict:
    """torch.profiler over a few eager ot steps: the ops that take the most host and device time."""
    from torch.profiler import ProfilerActivity, profile

    from bwot.config import MetricConfig
    from bwot.metric.trainer import run_steps, setup

    cfg = MetricConfig.from_mapping(metric_cfg(sizes, device, False))
    run = setup(shapes, sketches, tmp / "ck-profile", cfg, "ot", seed=0)
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
    return {"steps": sizes.profile_steps, **tables}


# ------------------------------------------------------------------------------------------- features
def feature_shards(folder: Path, sizes: Sizes) -> list[Path]:
    """Views shards as the render stage writes them (gzip, one chunk per item of 20 views): drawn
    polygons (bench/features), `distinct_items` drawn items repeated to `feature_items`."""
    from bwot.io import h5_writer, set_attrs, write_strings

    bf = load_bench("features")
    rng = np.random.default_rng(0)
    drawn = np.stack(
        [bf.polygon_images(i % 12, 20, sizes.feature_px, rng, 18.0) for i in range(sizes.distinct_items)]
    )
    per_shard = max(1, sizes.feature_items // 4)
    paths = []
    for s, first in enumerate(range(0, sizes.feature_items, per_shard)):
        n = min(per_shard, sizes.feature_items - first)
        path = folder / f"shard-{s}.h5"
        with h5_writer(path) as f:
            shape = (n, 20, sizes.feature_px, sizes.feature_px)
            images = f.create_dataset(
                "images", shape=shape, dtype=np.uint8, chunks=(1, *shape[1:]), compression="gzip"
            )
            for k in range(n):
                images[k] = drawn[(first + k) % len(drawn)]
            write_strings(f, "ids", [f"m{first + k}" for k in range(n)])
            f.create_dataset("labels", data=(np.arange(first, first + n) % 12).astype(np.int64))
            set_attrs(f, {"views": 20, "size": sizes.feature_px, "rig": "gpu-check"})
        paths.append(path)
    return paths


def feature_speed(device: torch.device, sizes: Sizes, tmp: Path) -> dict[str, Any]:
    """extract_features vs bare forward vs a per-image loop, per backbone (SHREC configs' settings)."""
    from bwot.features import extract_features, load_backbone
    from bwot.features.backbones import autocast

    bf = load_bench("features")
    shrec = yaml.safe_load((REPO / "config" / "shrec14.yaml").read_text())["features"]
    shards = feature_shards(tmp / "views", sizes)
    n_images = sizes.feature_items * 20
    out: dict[str, Any] = {"images": n_images, "px": sizes.feature_px, "backbones": {}}
    for backbone, layer in (("alexnet", "fc7"), ("resnet18", "avgpool")):
        model = untrained_checkpoint(backbone, layer, sizes.feature_px, tmp / f"{backbone}.pt")
        amp = device.type == "cuda"
        res: dict[str, Any] = {"layer": layer, "amp": amp, "px": sizes.feature_px, "pipeline": {}}
        for workers in sizes.worker_counts:
            workers = shrec.get("workers", 0) if workers is None else workers
            cfg = {"device": str(device), "amp": amp, "workers": workers, "input_size": sizes.feature_px}
            summary = extract_features(model, shards, tmp / f"{backbone}-{workers}.h5", "shapes", cfg)
            res["pipeline"][f"workers={workers}"] = round(summary["images_per_s"], 1)
        net, _ = load_backbone(model, device)
        torch.backends.cudnn.benchmark = device.type == "cuda"
        batch = 256 // 20 * 20  # extract_batch_size's whole items, as extract_features batches
        res["bare_forward"] = round(bf.bare_forward(net, n_images, batch, sizes.feature_px, device, amp), 1)
        with autocast(device, amp):  # the loop as the pipeline computes: AMP on a GPU
            loop = bf.per_image_loop(net, shards[0], sizes.loop_images, sizes.feature_px, device)
        res["per_image_loop"] = round(loop, 1)
        config_workers = f"workers={shrec.get('workers', 0)}" if None in sizes.worker_counts else None
        out["backbones"][backbone] = with_ratios(res, config_workers)
    return out


def untrained_checkpoint(backbone: str, layer: str, px: int, path: Path) -> Path:
    """A backbone checkpoint as train_backbone writes it (load_backbone reads it), untrained, seeded."""
    from bwot.features.backbones import build_backbone

    torch.manual_seed(0)
    net = build_backbone(backbone, layer, 10)
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    blob = {"backbone": backbone, "layer": layer, "input_size": px, "num_classes": 10, "state_dict": state}
    torch.save(blob, path)
    return path


def with_ratios(res: dict[str, Any], config_workers: str | None) -> dict[str, Any]:
    """The pipeline's images/s (with the SHREC configs' workers, else the best) against the bare forward
    and the per-image loop, and SHREC14's extraction time at that rate."""
    pipeline = res["pipeline"].get(config_workers) or max(res["pipeline"].values())
    return res | {
        "pipeline_images_per_s": pipeline,
        "vs_bare": round(pipeline / res["bare_forward"], 3),
        "vs_loop": round(pipeline / res["per_image_loop"], 1),
        "shrec14_seconds": round(SHREC14_IMAGES / pipeline, 1),
    }


# --------------------------------------------------------------------------------------------- render
def render_views_worker(out: Path, size: int, meshes: list[str]) -> None:
    """(In a child process.) Render `meshes` with bwot's ViewRenderer; save the views and GL strings."""
    from OpenGL import GL

    from bwot.render import ViewRenderer

    with ViewRenderer(size) as renderer:
        views = np.stack([renderer.render_file(m) for m in meshes])
        strings = {k: GL.glGetString(getattr(GL, f"GL_{k.upper()}")).decode() for k in ("renderer", "vendor")}
    np.savez_compressed(out, views=views, **strings)


def render_in_child(out: Path, size: int, meshes: list[str], vendor: str) -> dict[str, Any]:
    """Run `render_views_worker` in a fresh process with EGL's `vendor` (`egl_env`); its views, strings."""
    env = egl_env(vendor)
    cmd = [sys.executable, str(Path(__file__)), "--render-views", str(out), str(size), *meshes]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"render child (EGL vendor {vendor}) failed:\n{proc.stderr[-2000:]}")
    with np.load(out) as f:
        return {"views": f["views"], "renderer": str(f["renderer"]), "vendor": str(f["vendor"])}


def compare_views(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Worst view's mean |difference|, share of pixels off by > 16 levels, ink IoU; max |difference|."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).reshape(-1, a.shape[-2] * a.shape[-1])
    ink_a, ink_b = (a < 250).reshape(diff.shape), (b < 250).reshape(diff.shape)
    union = np.maximum((ink_a | ink_b).sum(1), 1)
    return {
        "max_abs": int(diff.max()),
        "worst_mean_abs": round(float(diff.mean(1).max()), 4),
        "worst_share_over_16": round(float((diff > 16).mean(1).max()), 5),
        "worst_ink_iou": round(float(((ink_a & ink_b).sum(1) / union).min()), 5),
    }


def render_check(device: torch.device, sizes: Sizes, tmp: Path) -> dict[str, Any]:
    """Views of NVIDIA's EGL (where its vendor file is found; else glvnd's choice: Mesa on a CPU) against
    Mesa llvmpipe's, and views/s."""
    br = load_bench("render")
    _, meshes = br.generated_meshes(tmp, n=sizes.render_meshes)
    out: dict[str, Any] = {"size": 224, "meshes": len(meshes)}
    default = render_in_child(tmp / "default.npz", 224, meshes, "nvidia")
    out["default_renderer"] = f"{default['vendor']} / {default['renderer']}"
    if MESA_VENDOR.exists():
        mesa = render_in_child(tmp / "mesa.npz", 224, meshes, "mesa")
        out["mesa_renderer"] = f"{mesa['vendor']} / {mesa['renderer']}"
        out["comparison"] = compare_views(default["views"], mesa["views"])
        same_impl = out["default_renderer"] == out["mesa_renderer"]
        out["same_implementation"] = same_impl
        out["ok"] = within_render_tolerance(out["comparison"], exact=same_impl)
    else:
        out["comparison"], out["ok"] = None, None
        out["note"] = f"no Mesa EGL vendor file at {MESA_VENDOR}: views not compared"
    out["nvidia_egl"] = "nvidia" in out["default_renderer"].lower()
    out["speed"] = render_speed(sizes, tmp)
    return out


def within_render_tolerance(comparison: dict[str, float], exact: bool) -> bool:
    """The same implementation must give identical views; NVIDIA vs Mesa within RENDER_TOL."""
    if exact:
        return comparison["max_abs"] == 0
    return (
        comparison["worst_mean_abs"] <= RENDER_TOL["mean_abs"]
        and comparison["worst_share_over_16"] <= RENDER_TOL["share_over_16"]
        and comparison["worst_ink_iou"] >= RENDER_TOL["ink_iou"]
    )


def render_speed(sizes: Sizes, tmp: Path) -> dict[str, Any]:
    """bench/render/run.py (bwot's renderer only) at 224 px on the built-in meshes and on the same
    subdivided twice (7,400 faces on average: SHREC-like), with 1 and N processes."""
    out_json = tmp / "render.json"
    cmd = [
        sys.executable, str(REPO / "bench" / "render" / "run.py"), "--methods", "bwot",
        "--sets", "built-in", "built-in-dense", "--sizes", "224",
        "--procs", *map(str, sizes.render_procs), "--repeats", "1", "--passes", str(sizes.render_passes),
        "--meshes", str(sizes.render_meshes), "--out", str(out_json),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=egl_env("nvidia"), capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"bench/render/run.py failed:\n{proc.stderr[-2000:]}")
    report = json.loads(out_json.read_text())
    rows = {f"{r['meshes']}, {r['procs']} proc": r["views_per_s"] for r in report["rows"]}
    dense_most = max((r for r in report["rows"] if r["meshes"] == "built-in-dense"), key=lambda r: r["procs"])
    return {
        "views_per_s": rows,
        "mean_faces": report["mean_faces"],
        "machine": report["machine"],
        "shrec14_views_per_s": dense_most["views_per_s"],
        "shrec14_procs": dense_most["procs"],
        "shrec14_seconds": round(SHREC14_VIEWS / dense_most["views_per_s"], 1),
    }


# ------------------------------------------------------------------------------------------- workflow
def workflow(device: torch.device, tmp: Path) -> dict[str, Any]:
    """config/test-tiny.yaml end to end with both torch stages on the device (on CPU: a dry run)."""
    work = tmp / "workflow"
    for part in WORKFLOW_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, work / part)
        elif src.exists():
            shutil.copy2(src, work / part)
    dev = str(device.type)
    (work / "gpu.yaml").write_text(
        yaml.safe_dump({"name": "gpu-check", "features": {"device": dev}, "metric": {"device": dev}})
    )
    # `python -m snakemake`: also where snakemake was installed with pip --target (bench/gpu/device.sh)
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(os.cpu_count() or 1)]
    cmd += ["--configfile", "config/test-tiny.yaml"]
    cmd += ["gpu.yaml", "--directory", str(work), "--snakefile", str(work / "Snakefile")]
    dry = device.type != "cuda"
    if dry:
        cmd.append("-n")
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, env=egl_env("nvidia"), timeout=900)
    out: dict[str, Any] = {
        "dry_run": dry,
        "devices": dev,
        "seconds": round(time.perf_counter() - start, 1),
        "returncode": proc.returncode,
    }
    if proc.returncode != 0:
        out.update(ok=False, tail=(proc.stdout + proc.stderr)[-3000:])
        return out
    if dry:
        text = proc.stdout + proc.stderr
        out.update(ok="Job stats:" in text, jobs=planned_total(text))
        return out
    out.update(workflow_devices(work / "results" / "gpu-check"))
    out["ok"] = (work / "results/gpu-check/report/metrics.csv").exists() and all(
        d.startswith("cuda") for d in out["stage_devices"].values()
    )
    return out


def planned_total(text: str) -> int | None:
    """The `total` of a dry run's job stats."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "total" and parts[1].isdigit():
            return int(parts[1])
    return None


def workflow_devices(results: Path) -> dict[str, Any]:
    """Which device each torch stage of a finished run used (backbone summaries, metric model meta)."""
    from bwot.metric import load_metric_model

    devices = {}
    for modality in ("shapes", "sketches"):
        devices[f"train_backbone {modality}"] = json.loads(
            (results / "backbone" / f"{modality}.json").read_text()
        ).get("device", "?")
    for model in sorted(results.glob("metric/*/seed-*/model.pt")):
        devices[f"train_metric {model.parent.parent.name}"] = str(load_metric_model(model).meta.get("device"))
    metrics = results / "report" / "metrics.csv"
    return {"stage_devices": devices, "report_rows": len(metrics.read_text().splitlines()) - 1}


# --------------------------------------------------------------------------------------------- shared
def _shared_worker(loss: str, shapes: str, sketches: str, tmp: str, cfg: dict, sizes: dict, barrier, queue):
    """(In a child process.) One loss's training: warm-up, barrier, timed steps; (steps, start, end)."""
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
    """The losses trained at once (all four on a GPU), one process each, on one device: steps/s per loss
    and in all (eager steps)."""
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
    results = [queue.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    per_loss = {loss: round(n / (end - start), 1) for loss, n, start, end in results}
    span = max(r[3] for r in results) - min(r[2] for r in results)
    return {
        "processes": len(procs),
        "steps_per_s": per_loss,
        "aggregate_steps_per_s": round(sum(r[1] for r in results) / span, 1),
        "eager": True,
    }


# ----------------------------------------------------------------------------------------------- goals
def goals(results: dict[str, Any], gpu: bool) -> list[dict[str, Any]]:
    """Each goal with its kind (a correctness `check` or a `speed` goal), target, what was measured and
    PASS / FAIL; speed goals are not checked in CPU mode."""
    rows: list[dict[str, Any]] = []

    def add(kind: str, name: str, target: str, measured: Any, ok: bool | None) -> None:
        if ok is None:
            status = "not measured"
        elif kind == "speed" and not gpu:
            status = "not checked (CPU mode)"
        else:
            status = "PASS" if ok else "FAIL"
        rows.append({"kind": kind, "goal": name, "target": target, "measured": measured, "status": status})

    s = results.get("sections", {})
    t = s.get("tests", {})
    add("check", "device tests (pytest -m gpu)", "no failure", t.get("counts"), t.get("ok"))
    for loss, r in s.get("metric", {}).get("losses", {}).items():
        best = r.get("best_steps_per_s")
        measured = None
        if best:  # a SHREC14 time only from the original setting (CPU mode: tiny networks)
            when = f"SHREC14 {SHREC14_STEPS / best / 60:.1f} min" if gpu else "tiny networks"
            measured = f"{best} steps/s ({r['best_mode']}); {when}"
        add("speed", f"metric training, {loss}", f">= {GOAL_STEPS_S:.0f} steps/s", measured,
            None if best is None else best >= GOAL_STEPS_S)  # fmt: skip
        for mode in ("eager", "cuda_graphs"):
            syncs = r.get(mode, {}).get("host_syncs")
            if syncs is not None:
                add("check", f"host syncs in {r[mode]['steps']} steps, {loss}, {mode}", "<= 1 (one flush)",
                    syncs, syncs <= 1)  # fmt: skip
    for name, r in s.get("features", {}).get("backbones", {}).items():
        add("speed", f"extraction vs bare forward, {name}", f">= {GOAL_VS_BARE:.0%}", f"{r['vs_bare']:.1%}",
            r["vs_bare"] >= GOAL_VS_BARE)  # fmt: skip
        add("speed", f"extraction vs per-image loop, {name}", f">= {GOAL_VS_LOOP:.0f}x", f"{r['vs_loop']}x",
            r["vs_loop"] >= GOAL_VS_LOOP)  # fmt: skip
        if name == "alexnet":
            measured = f"{r['shrec14_seconds']} s" + ("" if gpu else f" (at {r.get('px', '?')} px)")
            add("speed", "SHREC14 extraction, 453,340 images (alexnet)", f"<= {GOAL_EXTRACT_S:.0f} s",
                measured, r["shrec14_seconds"] <= GOAL_EXTRACT_S)  # fmt: skip
    rc = s.get("render", {})
    if "default_renderer" in rc:
        target = "identical" if rc.get("same_implementation") else "within tolerance (RENDER_TOL)"
        add("check", f"views: {rc['default_renderer']} vs Mesa", target, rc.get("comparison"), rc.get("ok"))
    if "speed" in rc:
        sp = rc["speed"]
        add("speed", f"SHREC14 rendering, 179,740 views ({sp['shrec14_procs']} processes)",
            f"<= {GOAL_RENDER_S:.0f} s", f"{sp['shrec14_seconds']} s ({sp['shrec14_views_per_s']} views/s)",
            sp["shrec14_seconds"] <= GOAL_RENDER_S)  # fmt: skip
    w = s.get("workflow", {})
    if "returncode" in w:
        what = "dry run" if w.get("dry_run") else f"end to end, devices {w.get('devices')}"
        add("check", f"test-tiny workflow ({what})", "completes", w.get("stage_devices") or w.get("jobs"),
            w.get("ok"))  # fmt: skip
    return rows


# --------------------------------------------------------------------------------------------- report
def summary_text(results: dict[str, Any]) -> str:
    """The short text summary: goals with target, measured and status; then where the time goes."""
    env = results["environment"]
    head = env.get("gpu") or f"{env['cpu']} ({env['cpu_cores']} cores), no CUDA"
    sections = ", ".join(
        f"{k} {v.get('seconds', 0):.0f} s" + (" ERROR" if v.get("error") else "")
        for k, v in results["sections"].items()
    )
    lines = [
        f"bwot GPU check, mode {results['mode']}: {head}; torch {env['torch']}; {results['started']}",
        f"sections: {sections}; total {results['seconds']:.0f} s",
        "",
        f"{'goal':<62} {'target':<24} {'status':<24} measured",
    ]
    for g in results["goals"]:
        lines.append(f"{g['goal']:<62} {g['target']:<24} {g['status']:<24} {g['measured']}")
    for name, sec in results["sections"].items():
        if sec.get("error"):
            lines.append(f"\nsection {name} failed: {sec['error']}")
    metric = results["sections"].get("metric", {})
    for loss, r in metric.get("losses", {}).items():
        modes = ", ".join(
            f"{m} {v['steps_per_s']} steps/s" if "steps_per_s" in v else f"{m} error: {v.get('error')}"
            for m, v in r.items() if isinstance(v, dict)
        )  # fmt: skip
        lines.append(f"metric {loss}: {modes}")
    prof = metric.get("profile", {})
    for key in ("by_device_time", "by_host_time"):
        if key in prof:
            what = key.replace("_", " ")
            lines += ["", f"where the time goes: ot step x {prof['steps']}, eager, ops {what}", prof[key]]
    feats = results["sections"].get("features", {}).get("backbones", {})
    for name, r in feats.items():
        lines.append(
            f"features {name} ({r['layer']}, amp {r['amp']}): pipeline {r['pipeline']} images/s; "
            f"bare forward {r['bare_forward']}; per-image loop {r['per_image_loop']}"
        )
    shared = results["sections"].get("shared", {})
    if "aggregate_steps_per_s" in shared:
        lines.append(f"losses trained at once on one device: {shared['steps_per_s']}, aggregate "
                     f"{shared['aggregate_steps_per_s']} steps/s")  # fmt: skip
    speed = results["sections"].get("render", {}).get("speed")
    if speed:
        lines.append(f"render 224 px views/s: {speed['views_per_s']} (mean faces {speed['mean_faces']})")
    return "\n".join(lines) + "\n"


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
