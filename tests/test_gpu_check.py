"""`make gpu-check`'s script (bench/gpu/run.py, its sections in the modules beside it) in its CPU mode: it
runs every section and writes gpu.json and gpu.txt with the structure a GPU run fills in (so the prepared
check keeps working without a GPU); and its spawned workers resolve from those modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from conftest import REPO

from bwot.losses.registry import LOSSES

SECTIONS = {"tests", "metric", "features", "render", "workflow", "shared"}
GPU = REPO / "bench" / "gpu"


def _env() -> dict[str, str]:
    """This checkout's src first on PYTHONPATH."""
    path = os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def test_gpu_check_cpu_mode_runs_every_section(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(GPU / "run.py"), "--cpu", "--out-dir", str(tmp_path)],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    first = proc.stdout.splitlines()[0]
    assert first.startswith("[gpu-check]") and "CPU mode" in first  # said in one line
    report = json.loads((tmp_path / "gpu.json").read_text())
    assert report["mode"] == "cpu" and set(report["sections"]) == SECTIONS
    for name, section in report["sections"].items():
        assert "error" not in section, (name, section.get("traceback"))
        assert section["seconds"] >= 0

    tests = report["sections"]["tests"]
    assert tests["ok"] and tests["counts"].get("skipped", 0) >= 10 and not tests["counts"].get("failed")
    metric = report["sections"]["metric"]
    assert set(metric["losses"]) == set(LOSSES)
    for result in metric["losses"].values():
        assert result["eager"]["steps_per_s"] > 0 and result["eager"]["finite"]
        assert result["best_mode"] == "eager"
    assert "Self CPU" in metric["profile"]["by_host_time"] and metric["profile"]["loss"] in LOSSES
    for backbone in ("alexnet", "resnet18"):
        res = report["sections"]["features"]["backbones"][backbone]
        assert min(res["bare_forward"], res["per_image_loop"], res["pipeline_images_per_s"]) > 0
    render = report["sections"]["render"]
    assert render["same_implementation"] and render["ok"] and render["comparison"]["max_abs"] == 0
    assert render["speed"]["views_per_s"] and render["speed"]["shrec14_seconds"] > 0
    workflow = report["sections"]["workflow"]
    assert workflow["dry_run"] and workflow["ok"] and workflow["jobs"] > 10
    shared = report["sections"]["shared"]
    assert set(shared["steps_per_s"]) == set(list(LOSSES)[: report["sizes"]["shared_losses"]])
    assert shared["aggregate_steps_per_s"] > 0

    kinds = {g["kind"] for g in report["goals"]}
    assert kinds == {"check", "speed"}
    for goal in report["goals"]:
        want = "PASS" if goal["kind"] == "check" else "not checked (CPU mode)"
        assert goal["status"] == want, goal
    text = (tmp_path / "gpu.txt").read_text()
    assert "metric training, ot" in text and "where the time goes" in text and text in proc.stdout


def test_spawned_workers_resolve_from_the_section_modules(tmp_path):
    """The spawn targets live in bench/gpu's modules (not a package: on sys.path as run.py puts it): they
    pickle by reference and start in a fresh child; a training process that dies ends the shared section
    with its exit code instead of leaving the others at the barrier (the CUDA graphs child runs only on a
    GPU, so it is started here with no loss)."""
    script = textwrap.dedent(f"""
        import multiprocessing as mp, pickle, sys
        sys.path.insert(0, {str(GPU)!r})
        import metric, shared

        for fn in (metric._graphs_worker, shared._shared_worker):
            assert pickle.loads(pickle.dumps(fn)) is fn
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        child = ctx.Process(target=metric._graphs_worker, args=([], "a.h5", "b.h5", "tmp", {{}}, queue))
        child.start()
        child.join(120)
        assert child.exitcode == 0, child.exitcode
        barrier = ctx.Barrier(2)
        args = ("a.h5", "b.h5", {str(tmp_path)!r}, {{}}, {{}}, barrier, queue)
        procs = [ctx.Process(target=shared._shared_worker, args=(loss, *args)) for loss in ("ot", "npair")]
        for p in procs:
            p.start()
        try:
            shared.collect(procs, queue, timeout=120)
        except RuntimeError as exc:
            print("collect:", exc)
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert "collect: 2 processes gave no result" in proc.stdout, proc.stdout + proc.stderr[-3000:]
