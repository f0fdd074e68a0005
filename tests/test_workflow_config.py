"""The Snakefile validates its config and builds a DAG on the default config."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import pytest
import yaml
from conftest import REPO, run_snakemake


def test_dry_run_default_config(workflow_dir):
    proc = run_snakemake(workflow_dir, "-n")
    out = proc.stdout + proc.stderr
    assert "synthesize_dataset" in out and "index_dataset" in out


def _write_config(workflow_dir, **changes):
    path = workflow_dir / "config" / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        section, _, sub = key.partition(".")
        if sub:
            cfg[section][sub] = value
        else:
            cfg[section] = value
    path.write_text(yaml.safe_dump(cfg))


def test_unknown_key_is_named(workflow_dir):
    _write_config(workflow_dir, **{"render.sise": 64})
    proc = run_snakemake(workflow_dir, "-n", check=False)
    assert proc.returncode != 0
    assert "sise" in proc.stdout + proc.stderr


def test_bad_value_is_named(workflow_dir):
    _write_config(workflow_dir, **{"render.rig": "cube6"})
    proc = run_snakemake(workflow_dir, "-n", check=False)
    assert proc.returncode != 0
    assert "cube6" in proc.stdout + proc.stderr


def test_folder_dataset_needs_data_dir(workflow_dir):
    _write_config(workflow_dir, dataset="folder")
    proc = run_snakemake(workflow_dir, "-n", check=False)
    assert proc.returncode != 0
    assert "data_dir" in proc.stdout + proc.stderr


def test_conda_env_installs_what_pyproject_needs():
    """envs/bwot.yaml (for --sdm conda) lists the project's runtime requirements, the same pins."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((REPO / "envs" / "bwot.yaml").read_text())["dependencies"]
    pip = next(item["pip"] for item in env if isinstance(item, dict))
    # snakemake and its SLURM plugin drive the jobs from outside the environment
    needed = [req for req in project if not req.startswith("snakemake")]
    assert sorted(pip) == sorted(needed)


@pytest.mark.slow
def test_conda_post_deploy_script_installs_bwot(tmp_path):
    """envs/bwot.post-deploy.sh, as Snakemake runs it in a new environment: bwot importable from the repo.

    The editable install builds in pip's isolated environment: setuptools comes from the package index (or
    pip's cache), like every other package of `make test`."""
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", env_dir], check=True)
    python = env_dir / "bin" / "python"
    script = REPO / "envs" / "bwot.post-deploy.sh"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(PATH=f"{env_dir / 'bin'}:/usr/bin:/bin", BWOT_ROOT=str(REPO))
    proc = subprocess.run(
        ["bash", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"for {python}" in proc.stdout
    out = subprocess.run([python, "-c", "import bwot; print(bwot.__file__)"], capture_output=True, text=True)
    assert out.stdout.strip() == str(REPO / "src" / "bwot" / "__init__.py")
    bad = subprocess.run(
        ["bash", script], env={**env, "BWOT_ROOT": str(tmp_path)}, capture_output=True, text=True
    )
    assert bad.returncode == 1 and "set BWOT_ROOT to the repository" in bad.stderr
