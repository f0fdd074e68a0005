"""`make gpu-check`'s script (bench/gpu/run.py) in its CPU mode: it runs every section and writes gpu.json
and gpu.txt with the structure a GPU run fills in (so the prepared check keeps working without a GPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO

from bwot.losses.registry import LOSSES

SECTIONS = {"tests", "metric", "features", "render", "workflow", "shared"}


def test_gpu_check_cpu_mode_runs_every_section(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gpu" / "run.py"), "--cpu", "--out-dir", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
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
    assert "Self CPU" in metric["profile"]["by_host_time"]
    for backbone in ("alexnet", "resnet18"):
        res = report["sections"]["features"]["backbones"][backbone]
        assert min(res["bare_forward"], res["per_image_loop"], res["pipeline_images_per_s"]) > 0
    render = report["sections"]["render"]
    assert render["same_implementation"] and render["ok"] and render["comparison"]["max_abs"] == 0
    assert render["speed"]["views_per_s"] and render["speed"]["shrec14_seconds"] > 0
    workflow = report["sections"]["workflow"]
    assert workflow["dry_run"] and workflow["ok"] and workflow["jobs"] > 10
    assert report["sections"]["shared"]["aggregate_steps_per_s"] > 0

    kinds = {g["kind"] for g in report["goals"]}
    assert kinds == {"check", "speed"}
    for goal in report["goals"]:
        want = "PASS" if goal["kind"] == "check" else "not checked (CPU mode)"
        assert goal["status"] == want, goal
    text = (tmp_path / "gpu.txt").read_text()
    assert "metric training, ot" in text and "where the time goes" in text and text in proc.stdout
