"""Render throughput (views/s) of bwot.render against the usual per-mesh pyrender script, side by side.

For each mesh set (`built-in`: one mesh per class of the built-in benchmark; `real`: the 12 PSB meshes of
../shared/data/real/meshes; `dense`: those 12 subdivided twice, 16x the faces, as raw SHREC meshes have), size
and process count N, both methods render the same meshes with the same 20-camera rig: bwot with one
ViewRenderer per process (context, shader and scene reused), the baseline (bench/render/
baseline_pyrender.py) with a new OffscreenRenderer per mesh. Each of the N processes renders the whole set
`--passes` times (weak scaling), after a barrier, so process start-up and imports are not timed; views/s =
all views / (last end - first start). Each Mesa llvmpipe context gets one raster thread (LP_NUM_THREADS=1,
as a `threads: 1` Snakemake job would). Runs are interleaved and repeated; the best of `--repeats` is kept.
Views per CPU-second (process CPU time of the workers, all their threads) is reported too: on a machine
shared with other work, wall-clock scaling says little, while a constant views/CPU-s from 1 to N processes
shows that the processes do not contend (so scaling is linear as long as there are free cores).

    .venv/bin/python bench/render/run.py [--sets built-in real dense built-in-dense] [--sizes 64 224]
        [--procs 1 2] [--repeats 3] [--passes 2] [--methods bwot baseline] [--meshes 12]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from bwot.render import load_mesh

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
REAL = Path(os.environ.get("BWOT_REAL_DATA", REPO.parent / "shared" / "data" / "real")) / "meshes"
METHODS = ("bwot", "baseline")


def generated_meshes(folder: Path, n: int = 12, seed: int = 0) -> tuple[str, list[str]]:
    """`n` meshes of the built-in benchmark (one per class), written as OFF into `folder`; with the source.

    Falls back to trimesh primitives assembled into shapes of similar complexity when bwot.synthetic is
    missing (the source says which was used)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    try:
        from bwot.synthetic import PRESETS, class_specs, make_shape

        specs = class_specs(PRESETS["default"], n)
        meshes, source = (
            [make_shape(s.builder, rng, s.variant) for s in specs],
            "bwot.synthetic (default preset)",
        )
    except ImportError:
        meshes, source = [_primitive_shape(rng) for _ in range(n)], "trimesh primitives"
    paths = []
    for i, mesh in enumerate(meshes):
        paths.append(str(folder / f"gen{i:02d}.off"))
        mesh.export(paths[-1])
    return source, paths


def dense_meshes(paths: list[str], folder: Path) -> list[str]:
    """The meshes subdivided twice (16x the faces), written as OFF into `folder`."""
    import trimesh

    out = []
    for path in paths:
        out.append(str(folder / f"dense-{Path(path).name}"))
        trimesh.load(path, process=False).subdivide().subdivide().export(out[-1])
    return out


def _primitive_shape(rng):
    import trimesh
    from trimesh import creation

    parts = [creation.box(extents=rng.uniform(0.3, 1.0, 3))]
    for _ in range(rng.integers(2, 6)):
        part = [
            lambda: creation.cylinder(radius=rng.uniform(0.05, 0.2), height=rng.uniform(0.5, 1.5)),
            lambda: creation.icosphere(subdivisions=int(rng.integers(2, 4)), radius=rng.uniform(0.1, 0.4)),
            lambda: creation.cone(radius=rng.uniform(0.1, 0.3), height=rng.uniform(0.3, 1.0)),
        ][rng.integers(3)]()
        part.apply_translation(rng.uniform(-0.7, 0.7, 3))
        parts.append(part)
    return trimesh.util.concatenate(parts)


def _worker(method: str, paths: list[str], size: int, passes: int, barrier, queue) -> None:
    sys.path.insert(0, str(HERE))
    from baseline_pyrender import render_mesh

    from bwot.render import ViewRenderer, camera_poses, camera_yfov

    poses, yfov = camera_poses("dodecahedron20", 3.0, "y"), camera_yfov()
    barrier.wait()
    start, cpu, views = time.monotonic(), time.process_time(), 0
    if method == "bwot":
        with ViewRenderer(size) as renderer:
            for _ in range(passes):
                for path in paths:
                    views += len(renderer.render_file(path))
    else:
        for _ in range(passes):
            for path in paths:
                views += len(render_mesh(path, size, poses, yfov))
    queue.put((views, start, time.monotonic(), time.process_time() - cpu))


def measure(method: str, paths: list[str], size: int, procs: int, passes: int) -> tuple[float, float]:
    """Views/s of `procs` processes, each rendering `paths` `passes` times, and views per CPU-second."""
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(procs), ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(method, paths, size, passes, barrier, queue)) for _ in range(procs)
    ]
    for w in workers:
        w.start()
    results = [queue.get() for _ in workers]
    for w in workers:
        w.join()
        if w.exitcode:
            raise RuntimeError(f"{method} worker failed (exit code {w.exitcode})")
    views = sum(r[0] for r in results)
    return views / (max(r[2] for r in results) - min(r[1] for r in results)), views / sum(
        r[3] for r in results
    )


def cpu_model() -> str:
    """The CPU's model name (Linux), else the machine type."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return next(ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()


def gl_renderer() -> str:
    """The OpenGL renderer string of an EGL context (e.g. llvmpipe = Mesa on the CPU)."""
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    import pyrender
    from OpenGL import GL

    r = pyrender.OffscreenRenderer(8, 8)
    name = GL.glGetString(GL.GL_RENDERER).decode()
    r.delete()
    return name


def mesh_sets(names: list[str], folder: Path, n_generated: int) -> tuple[str, dict[str, list[str]]]:
    """The mesh sets asked for (only those are made): `built-in`, `real`, `dense` (real subdivided twice),
    `built-in-dense` (built-in subdivided twice: ~7k faces, as raw SHREC meshes, without ../shared)."""
    source, generated = generated_meshes(folder, n_generated)
    real = sorted(map(str, REAL.glob("*.off")))
    makers = {
        "built-in": lambda: generated,
        "real": lambda: real,
        "dense": lambda: dense_meshes(real, folder),
        "built-in-dense": lambda: dense_meshes(generated, folder),
    }
    return source, {name: makers[name]() for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 224])
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--passes", type=int, default=2, help="times each process renders the mesh set")
    parser.add_argument("--sets", nargs="+", default=["built-in", "real", "dense"],
                        choices=["built-in", "real", "dense", "built-in-dense"])  # fmt: skip
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--meshes", type=int, default=12, help="generated meshes (built-in sets)")
    parser.add_argument("--out", default="bench/out/render.json")
    args = parser.parse_args()
    os.environ["LP_NUM_THREADS"] = "1"

    with tempfile.TemporaryDirectory() as tmp:
        source, sets = mesh_sets(args.sets, Path(tmp), args.meshes)
        empty = [name for name, paths in sets.items() if not paths]
        if empty:
            sys.exit(f"no meshes in set(s) {empty} (real meshes are read from {REAL}; set BWOT_REAL_DATA)")
        mean_faces = {
            name: round(sum(len(load_mesh(p).faces) for p in ps) / len(ps)) for name, ps in sets.items()
        }
        rows = []
        for name, paths in sets.items():
            for size in args.sizes:
                for procs in args.procs:
                    best = {m: (0.0, 0.0) for m in args.methods}
                    for _ in range(args.repeats):  # interleaved, so load changes hit both alike
                        for m in args.methods:
                            wall, cpu = measure(m, paths, size, procs, args.passes)
                            best[m] = (max(best[m][0], wall), max(best[m][1], cpu))
                    for m, (wall, cpu) in best.items():
                        row = {"meshes": name, "size": size, "method": m, "procs": procs}
                        rows.append({**row, "views_per_s": round(wall, 1), "views_per_cpu_s": round(cpu, 1)})
                    print(*rows[-len(args.methods) :], flush=True)
    report = {
        "machine": f"{cpu_model()}, {os.cpu_count()} cores, {gl_renderer()}",
        "generated_from": source,
        "meshes": {name: len(paths) for name, paths in sets.items()},
        "mean_faces": mean_faces,
        "repeats": args.repeats,
        "passes": args.passes,
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))


def markdown(report: dict) -> str:
    """The results as a markdown table: views/s, speed-up over the baseline (when it was run), scaling
    with processes."""
    rows = {(r["meshes"], r["size"], r["method"], r["procs"]): r for r in report["rows"]}
    lines = [
        "| meshes | size | processes | bwot views/s | baseline views/s | speed-up | bwot scaling "
        "| bwot views/CPU-s | baseline views/CPU-s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for meshes, size, method, procs in rows:
        if method != "bwot":
            continue
        ours, base = rows[meshes, size, "bwot", procs], rows.get((meshes, size, "baseline", procs))
        one = rows.get((meshes, size, "bwot", 1))
        scaling = f"{ours['views_per_s'] / one['views_per_s']:.2f}x" if one else "-"
        if base:
            speedup = f"{ours['views_per_s'] / base['views_per_s']:.1f}x"
            base_cells = f"{base['views_per_s']:.0f}", f"{base['views_per_cpu_s']:.0f}"
        else:
            speedup, base_cells = "-", ("-", "-")
        lines.append(
            f"| {meshes} | {size} | {procs} | {ours['views_per_s']:.0f} | {base_cells[0]} | {speedup} "
            f"| {scaling} | {ours['views_per_cpu_s']:.0f} | {base_cells[1]} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
