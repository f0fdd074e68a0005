"""Shared fixtures: the repository, the real SHREC samples in shared/, and a runner for workflow tests."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
WORKFLOW_PARTS = ["Snakefile", "rules", "workflow", "config", "envs"]
# the devices of device-parametrised tests: "cuda" carries the `gpu` marker (`pytest -m gpu` selects the
# CUDA cases, as `make gpu-check` does) and is skipped where there is no CUDA device
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the `gpu` tests (the CUDA cases of DEVICES included) without a CUDA device."""
    gpu = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu:
        return
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in gpu:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _forget_log_handlers() -> Iterator[None]:
    """`bwot.cli.main` logs to the stderr of the test that called it (`setup_logging`), which is closed
    after that test: its handlers go with it, so a later test that logs prints no logging error."""
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if type(h) in (logging.StreamHandler, logging.FileHandler)]:
        root.removeHandler(handler)
        handler.close()


def _real_data_dir() -> Path:
    env = os.environ.get("BWOT_REAL_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """../shared/data/real: real .cla files, PSB meshes and TU-Berlin sketches (required in CI)."""
    path = _real_data_dir()
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"real test data missing at {path} (set BWOT_REAL_DATA)")
        pytest.skip(f"real test data not found at {path}")
    return path


@pytest.fixture(scope="session")
def real13_dev() -> Path:
    """../shared/data/real13-dev: a real SHREC'13 development set (589 PSB models, 650 sketches)."""
    env = os.environ.get("BWOT_REAL13_DEV")
    path = Path(env) if env else REPO.parent / "shared" / "data" / "real13-dev"
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"real development set missing at {path} (set BWOT_REAL13_DEV)")
        pytest.skip(f"real development set not found at {path}")
    return path


@pytest.fixture
def workflow_dir(tmp_path: Path) -> Path:
    """A copy of the workflow in a temporary folder, to run snakemake in isolation."""
    for part in WORKFLOW_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, tmp_path / part)
        else:
            shutil.copy2(src, tmp_path / part)
    return tmp_path


def finished_run(workdir: Path, config: str = "config/test-tiny.yaml") -> Path:
    """A copy of the workflow in `workdir` with the whole pipeline run once on `config` (the tiny built-in
    benchmark by default: results/tiny/)."""
    for part in WORKFLOW_PARTS:  # envs/ too: Snakemake records the conda env of every job
        src = REPO / part
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, workdir / part)
    run_snakemake(workdir, "--configfile", config)
    return workdir


def edit_config(workflow_dir: Path, **values) -> dict:
    """Merge `values` (top-level keys, or a section as a dict of keys) into the workflow copy's
    config/config.yaml; return the whole validated config (bwot.config.Config.as_dict)."""
    from bwot.config import Config

    path = workflow_dir / "config" / "config.yaml"
    cfg = yaml.safe_load(path.read_text()) or {}
    for key, value in values.items():
        if isinstance(value, dict):
            cfg.setdefault(key, {}).update(value)
        else:
            cfg[key] = value
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return Config.from_mapping(cfg).as_dict() | {"builtin_root": Config.from_mapping(cfg).builtin_root}


def run_snakemake(workdir: Path, *args: str, check: bool = True, timeout: float = 1800):
    """Run snakemake in `workdir`; return the CompletedProcess (output captured as text)."""
    cmd = [
        str(SNAKEMAKE),
        "--cores",
        "2",
        "--directory",
        str(workdir),
        "--snakefile",
        str(workdir / "Snakefile"),
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def planned_jobs(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run ({} when nothing is to be done)."""
    text = proc.stdout + proc.stderr
    if "Job stats:" not in text:
        assert "Nothing to be done" in text, text
        return {}
    jobs = {}
    for line in text.split("Job stats:", 1)[1].splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    return jobs
