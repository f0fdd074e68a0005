"""The Snakefile validates its config and builds a DAG on the default config."""

from __future__ import annotations

import yaml
from conftest import run_snakemake


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
