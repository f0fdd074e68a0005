"""The workflow section: config/test-tiny.yaml end to end with both torch stages on the device (the module
is named apart from the repository's workflow/ folder)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from common import REPO, egl_env

WORKFLOW_PARTS = ("Snakefile", "rules", "workflow", "config", "envs")


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
