"""The render section: NVIDIA's EGL views against Mesa's (each in its own process), and views/s."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import MESA_VENDOR, REPO, RUN, SHREC14_VIEWS, Sizes, egl_env, load_bench

# rendering NVIDIA vs Mesa: per view, mean |difference| and the share of pixels off by more than 16
# grey levels (edges: multisample positions may differ), and the overlap of the ink
RENDER_TOL = {"mean_abs": 1.0, "share_over_16": 0.01, "ink_iou": 0.99}


def render_views_worker(out: Path, size: int, meshes: list[str]) -> None:
    """(In a child process: run.py --render-views.) Render `meshes` with bwot's ViewRenderer; save the
    views and GL strings."""
    from OpenGL import GL

    from bwot.render import ViewRenderer

    with ViewRenderer(size) as renderer:
        views = np.stack([renderer.render_file(m) for m in meshes])
        strings = {k: GL.glGetString(getattr(GL, f"GL_{k.upper()}")).decode() for k in ("renderer", "vendor")}
    np.savez_compressed(out, views=views, **strings)


def render_in_child(out: Path, size: int, meshes: list[str], vendor: str) -> dict[str, Any]:
    """Run `render_views_worker` in a fresh process with EGL's `vendor` (`egl_env`); its views, strings."""
    env = egl_env(vendor)
    cmd = [sys.executable, str(RUN), "--render-views", str(out), str(size), *meshes]
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
