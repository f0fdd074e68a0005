"""The Snakefile: the DAG of the default config, and every config problem stopped before any job runs."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from types import SimpleNamespace

import pytest
import torch
import yaml
from conftest import REPO, planned_jobs, run_snakemake

from bwot.config import Config
from bwot.device import cuda_problem
from bwot.losses.registry import LOSSES
from bwot.workflow import check_devices, device_checks, devices_checked_here, probe_cuda


def test_dry_run_default_config_plans_every_job(workflow_dir):
    """The default config plans the whole pipeline: one job per shard, modality and loss, then the report
    and the retrieval index of each loss."""
    jobs = planned_jobs(run_snakemake(workflow_dir, "-n"))
    assert jobs == {
        "synthesize_dataset": 1,
        "index_dataset": 1,
        "render_views": 4,  # render.shards
        "prepare_sketches": 4,  # sketches.shards x (train, test)
        "train_backbone": 2,
        "extract_features": 2,
        "train_metric": len(LOSSES),  # the default metric.losses: every loss of the registry
        "evaluate": len(LOSSES),
        "report": 1,
        "retrieval_index": len(LOSSES),
        "all": 1,
    }


def _write_config(workflow_dir, **changes):
    path = workflow_dir / "config" / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        section, _, sub = key.partition(".")
        if sub:
            cfg.setdefault(section, {})[sub] = value
        else:
            cfg[section] = value
    path.write_text(yaml.safe_dump(cfg))


def _stops_before_any_job(workflow_dir, message: str, **changes) -> str:
    """Run a dry run with `changes`: it fails at parse time with `message` and nothing else long."""
    _write_config(workflow_dir, **changes)
    proc = run_snakemake(workflow_dir, "-n", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert message in out, out
    assert "Job stats" not in out and not (workflow_dir / "results").exists()
    assert len(out.splitlines()) < 8, out  # the problem, not a dump of the schema or the config
    return out


def test_unknown_key_is_named_with_the_closest_key(workflow_dir):
    _stops_before_any_job(
        workflow_dir,
        "unknown key 'render.sise' (in config/config.yaml); did you mean 'render.size'?",
        **{"render.sise": 64},
    )


def test_bad_value_is_named(workflow_dir):
    _stops_before_any_job(
        workflow_dir,
        "'render.rig' (in config/config.yaml): 'cube6' is not one of ['dodecahedron20', 'ring12']",
        **{"render.rig": "cube6"},
    )


@pytest.mark.parametrize("name", [".", ".."])
def test_name_cannot_leave_results(workflow_dir, name):
    _stops_before_any_job(workflow_dir, f"'name' (in config/config.yaml): '{name}' is not allowed", name=name)


def test_folder_dataset_needs_data_dir(workflow_dir):
    _stops_before_any_job(
        workflow_dir, "data_dir is not set: dataset 'folder' needs it (--config data_dir=", dataset="folder"
    )


def test_data_dir_without_the_layout_stops_before_any_job(workflow_dir, tmp_path):
    out = _stops_before_any_job(
        workflow_dir,
        f"data_dir '{tmp_path}' does not hold the shrec13 layout (docs/datasets.md): missing folder "
        f"{tmp_path}/SHREC13_SBR_TARGET_MODELS/models;",
        dataset="shrec13",
        data_dir=str(tmp_path),
    )
    assert "SHREC13_SBR_Model.cla" in out


def test_gallery_loss_must_be_trained(workflow_dir):
    _stops_before_any_job(
        workflow_dir,
        "report.gallery_loss 'npair' is not among metric.losses ['ot', 'lifted']",
        **{"metric.losses": ["ot", "lifted"], "report.gallery_loss": "npair"},
    )


def test_feature_layer_must_exist(workflow_dir):
    _stops_before_any_job(
        workflow_dir,
        "features.layer 'fc7' is not a layer of resnet18: use one of layer2, layer3, avgpool",
        **{"features.layer": "fc7"},
    )


def test_missing_weights_file_stops_before_any_job(workflow_dir, tmp_path):
    _stops_before_any_job(
        workflow_dir,
        f"features.weights '{tmp_path}/none.pth': no such file",
        **{"features.weights": str(tmp_path / "none.pth")},
    )


def test_non_finite_value_is_named(workflow_dir):
    _stops_before_any_job(
        workflow_dir,
        "'metric.lamb' (in config/config.yaml): nan is not a finite number",
        **{"metric.lamb": float("nan")},
    )


def test_alias_bomb_configfile_is_refused_before_it_is_expanded(workflow_dir):
    """A "billion laughs" given with --configfile: Snakemake keeps its aliases shared, and bwot reads the
    file within its bounds before walking `config`."""
    lines = ["dataset: builtin", "a: &a [x, x, x, x, x, x, x, x, x]"]
    lines += [f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi", strict=True)]
    bomb = workflow_dir / "bomb.yaml"
    bomb.write_text("\n".join([*lines, "name: *i"]) + "\n")  # 9**9 x's, quoted whole by a type error
    proc = run_snakemake(workflow_dir, "-n", "--configfile", str(bomb), check=False, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "bomb.yaml: its YAML expands to" in out and "alias bomb" in out, out
    assert len(out) < 3000, out[:3000]


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


# --- devices: cuda without usable CUDA stops the run before any job, where the jobs run on this machine

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine where CUDA is not usable")
REASON = "The NVIDIA driver on your system is too old (found version 12040)"


def _config(**sections):
    return Config.from_mapping({"dataset": "builtin", **sections})


def test_device_checks_name_the_key_the_reason_and_the_fix():
    asked = []

    def probe(specs):
        asked.append(list(specs))
        return dict.fromkeys(specs, REASON)

    problems, warnings = device_checks(
        _config(features={"device": "cuda"}, metric={"device": "cuda:1"}), probe
    )
    assert asked == [["cuda", "cuda:1"]] and warnings == []
    assert problems == [
        f"features.device: cuda, but CUDA is not usable on this machine, where the jobs run: {REASON}. Set "
        "features.device: auto (the CPU when no GPU is usable) or cpu, or run on a machine whose GPU torch "
        "can use",
        f"metric.device: cuda:1, but CUDA is not usable on this machine, where the jobs run: {REASON}. Set "
        "metric.device: auto (the CPU when no GPU is usable) or cpu, or run on a machine whose GPU torch "
        "can use",
    ]
    usable = device_checks(_config(features={"device": "cuda"}), lambda specs: dict.fromkeys(specs))
    assert usable == ([], [])


def test_auto_on_a_config_sized_for_a_gpu_is_warned_of_and_a_small_one_asks_nothing():
    """`auto` stages of a GPU-sized config (features.input_size >= 224) that would run on the CPU: one
    warning with torch's reason; a small config on auto or cpu never asks torch (no wait for its import)."""

    def never(specs):
        raise AssertionError(f"torch asked about {specs}")

    assert device_checks(_config(), never) == ([], [])
    on_cpu = _config(features={"input_size": 224, "device": "cpu"}, metric={"device": "cpu"})
    assert device_checks(on_cpu, never) == ([], [])
    problems, [warning] = device_checks(
        _config(features={"input_size": 224}, metric={"device": "cpu"}),
        lambda specs: dict.fromkeys(specs, REASON),
    )
    assert problems == []
    assert warning.startswith(f"features.device: auto, and CUDA is not usable on this machine: {REASON}. ")
    assert "sized for a GPU (features.input_size 224)" in warning and "features.device: cpu" in warning
    on_gpu = device_checks(_config(features={"input_size": 224}), lambda specs: dict.fromkeys(specs))
    assert on_gpu == ([], [])


def _workflow(*, main=True, nodes=None, local=True):
    """What bwot.workflow reads of Snakemake's `workflow`: main process, --jobs, local executor."""
    return SimpleNamespace(
        is_main_process=main, resource_settings=SimpleNamespace(nodes=nodes), local_exec=local
    )


def test_devices_are_checked_only_where_the_jobs_run_here():
    """No --jobs: the local executor (a remote one refuses to start without it): checked while the
    Snakefile is read, dry runs too. With --jobs: when the run starts, if the executor is local; never for
    SLURM (the login node has no GPU), never in a job's own Snakemake process."""
    assert devices_checked_here(_workflow(), started=False)
    assert not devices_checked_here(_workflow(), started=True)  # already done
    slurm = _workflow(nodes=50, local=False)  # --profile profiles/slurm (jobs: 50)
    assert not devices_checked_here(slurm, started=False) and not devices_checked_here(slurm, started=True)
    assert not devices_checked_here(_workflow(nodes=4, local=True), started=False)  # not known yet
    assert devices_checked_here(_workflow(nodes=4, local=True), started=True)
    assert not devices_checked_here(_workflow(main=False), started=False)  # a job on a cluster node
    cfg = _config(features={"device": "cuda"})
    assert check_devices(cfg, slurm, started=True, warn=print) == []  # torch not even asked


@NO_CUDA
def test_probe_asks_torch_in_a_child_process():
    found = probe_cuda(["cuda"])
    assert found["cuda"].startswith(cuda_problem("cuda")) and "NVIDIA driver >= 580" in found["cuda"]


@NO_CUDA
def test_device_cuda_without_cuda_stops_a_local_run_before_any_job(workflow_dir):
    """`features.device: cuda` where CUDA is not usable: a local dry run stops at once with torch's reason."""
    out = _stops_before_any_job(
        workflow_dir,
        "features.device: cuda, but CUDA is not usable on this machine",
        **{"features.device": "cuda"},
    )
    assert cuda_problem("cuda") in out and "Set features.device: auto" in out


@NO_CUDA
def test_device_cuda_is_refused_at_the_start_with_jobs_but_not_for_a_remote_executor(workflow_dir):
    """With --jobs the check waits for the start of the run: a local run stops before its first job; with
    the SLURM executor (a dry run: no cluster here) the jobs do not run on this machine: nothing refused."""
    _write_config(workflow_dir, **{"metric.device": "cuda"})
    slurm = run_snakemake(workflow_dir, "-n", "--executor", "slurm", "--jobs", "4", check=False)
    assert slurm.returncode == 0 and planned_jobs(slurm)["train_metric"] == len(LOSSES), slurm.stderr
    local = run_snakemake(workflow_dir, "--jobs", "2", check=False, timeout=300)
    out = local.stdout + local.stderr
    assert local.returncode != 0 and "metric.device: cuda, but CUDA is not usable on this machine" in out, out
    assert "in __onstart" in out  # when the run started, before its first job: nothing was made
    assert not (workflow_dir / "results").exists() and not (workflow_dir / "resources").exists()
