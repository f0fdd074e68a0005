"""What only the workflow needs of the config: each job's params, and the checks before any job runs.

The Snakefile and rules/*.smk use this module; it sits above the stages (docs/architecture.md).

- `job_params(section, values, ...)`: the keys of a section that decide what one job computes, the one
  way every rule builds its params (a change of one reruns the job; a change of any other key does not).
  The schema's marks decide which (bwot.config.job_keys).
- `full_section(config, section, params)`: what a job's script runs with, the run's section under its
  params.
- `preflight(cfg)`: what would fail after jobs have run, found before.
- `check_devices(cfg, workflow, ...)`: a stage on `cuda`/`cuda:N` where CUDA is not usable (a problem), a
  config sized for a GPU whose `auto` stages would run on the CPU (a warning), each with torch's reason;
  only where the jobs run on this machine (`devices_checked_here`). docs/gpu.md.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bwot.config import Config, FeaturesConfig, job_keys
from bwot.datasets.layouts import layout_problems
from bwot.features.layers import LAYERS, cached_weights_path

# A config is sized for a GPU from this CNN input size on (ImageNet-sized images: config/shrec13.yaml and
# shrec14.yaml); its `auto` stages falling back to the CPU get a warning at the start of the run.
GPU_SIZED_INPUT = 224
PROBE_TIMEOUT_S = 300  # the child process that asks torch about CUDA (its import alone takes seconds)


def job_params(
    section: str,
    values: Mapping[str, Any],
    *,
    modality: str | None = None,
    loss: str | None = None,
    extract: bool = False,
) -> dict[str, Any]:
    """The keys of `values` (a config section) that decide what one job computes (bwot.config.job_keys):
    a rule's params. A job's script takes the rest from the run's config (`full_section`)."""
    keys = job_keys(section, modality=modality, loss=loss, extract=extract)
    return {k: v for k, v in values.items() if k in keys}


def full_section(config: Mapping[str, Any], section: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A job's whole section: the run's config under the job's params (a sweep point's value wins)."""
    return {**config[section], **params}


def preflight(cfg: Config) -> list[str]:
    """What would fail after jobs have run, found now: each problem names the key and the fix."""
    problems = _dataset_problems(cfg) + _weights_problems(cfg.features)
    layers = LAYERS[cfg.features.backbone]
    if cfg.features.layer is not None and cfg.features.layer not in layers:
        problems.append(
            f"features.layer '{cfg.features.layer}' is not a layer of {cfg.features.backbone}: "
            f"use one of {', '.join(layers)} (or null for the usual one)"
        )
    views = int(re.search(r"\d+$", cfg.render.rig).group())  # a rig's name ends with its number of views
    if cfg.report.gallery_view >= views:
        problems.append(
            f"report.gallery_view {cfg.report.gallery_view}: the rig {cfg.render.rig} renders views "
            f"0..{views - 1} only"
        )
    if cfg.metric.cuda_graphs and (cfg.metric.optimizer != "sgd" or cfg.metric.sinkhorn_tol is not None):
        problems.append(
            "metric.cuda_graphs: true needs metric.optimizer: sgd and metric.sinkhorn_tol: null "
            f"(not {cfg.metric.optimizer} and {cfg.metric.sinkhorn_tol}): change them, or cuda_graphs: false"
        )
    gallery = cfg.report.gallery_loss
    if gallery is not None and gallery not in cfg.metric.losses:
        problems.append(
            f"report.gallery_loss '{gallery}' is not among metric.losses {cfg.metric.losses}: "
            "add it there, or set report.gallery_loss: null (the first loss)"
        )
    return problems


def _dataset_problems(cfg: Config) -> list[str]:
    if cfg.dataset == "builtin":
        return []
    if not cfg.data_dir:
        hint = f"--config data_dir=/path/to/{cfg.dataset}"
        return [f"data_dir is not set: dataset '{cfg.dataset}' needs it ({hint})"]
    root = Path(cfg.data_dir)
    if not root.is_dir():
        return [f"data_dir '{root}' does not exist or is not a folder (dataset '{cfg.dataset}')"]
    missing = layout_problems(cfg.dataset, root)
    if not missing:
        return []
    return [
        f"data_dir '{root}' does not hold the {cfg.dataset} layout (docs/datasets.md): {'; '.join(missing)}"
    ]


def _weights_problems(features: FeaturesConfig) -> list[str]:
    weights = features.weights
    if weights in (None, "auto"):
        return []
    if weights == "imagenet":
        path = cached_weights_path(features.backbone)
        if path.is_file():
            return []
        return [
            f"features.weights 'imagenet': no cached ImageNet weights of {features.backbone} at {path} "
            "(torchvision's cache: $TORCH_HOME/hub/checkpoints, default ~/.cache/torch/hub/checkpoints; "
            "nothing is downloaded). Put the file there, or run without them: features.weights: null "
            "(from scratch) or auto (use them when present)"
        ]
    path = Path(weights)  # ~ already expanded by Config.from_mapping
    if path.is_dir():
        missing = [f"{m}.pt" for m in ("shapes", "sketches") if not (path / f"{m}.pt").is_file()]
        if missing:
            return [
                f"features.weights '{weights}': a folder of backbones, but {', '.join(missing)} is not in it"
            ]
        return []
    if not path.is_file():
        return [f"features.weights '{weights}': no such file (a torchvision state_dict or a bwot backbone)"]
    return []


def check_devices(cfg: Config, workflow: Any, *, started: bool, warn: Callable[[str], Any]) -> list[str]:
    """The Snakefile's device check: where it applies (`devices_checked_here`), `device_checks`' warnings
    go to `warn` and its problems are returned (they stop the run before any job)."""
    if not devices_checked_here(workflow, started=started):
        return []
    problems, warnings = device_checks(cfg)
    for warning in warnings:
        warn(f"Warning: {warning}")
    return problems


def devices_checked_here(workflow: Any, *, started: bool) -> bool:
    """Whether the device check (`device_checks`) belongs here: in the main Snakemake process, when its
    jobs run on this machine, once. `workflow`: the Snakefile's `workflow`; `started`: called from
    `onstart` (the run starts) rather than while the Snakefile is read.

    Snakemake 9 (9.27) knows the executor only once the run starts: `workflow.executor_plugin` and
    `workflow.local_exec` are set by Workflow.execute after the Snakefile has been read, and a dry run
    gets the dry-run executor, local whatever `--executor` says. While the Snakefile is read, `--jobs`
    tells: every remote executor (SLURM: `jobs` in profiles/slurm) refuses to start without it, so with
    no `--jobs` (`workflow.resource_settings.nodes` None) the jobs run here, and the check is made at
    once, for a dry run too. With `--jobs` it waits for `onstart` (real runs: not a dry run) and applies
    when the executor is local. A job's own Snakemake process (on a cluster node) never checks: there the
    job fails at once with the same reason (bwot.device.resolve_device)."""
    if not workflow.is_main_process:
        return False
    if workflow.resource_settings.nodes is None:
        return not started
    return started and bool(workflow.local_exec)


def device_checks(
    cfg: Config, probe: Callable[[Sequence[str]], Mapping[str, str | None]] | None = None
) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the torch stages' devices, for a run whose jobs run on this machine.

    A problem: `features.device` or `metric.device` is cuda or cuda:N and CUDA is not usable here (torch's
    reason, the key, the fix). A warning: stages on `auto` will run on the CPU although the config is
    sized for a GPU (features.input_size >= GPU_SIZED_INPUT). torch is asked (`probe`, default
    `probe_cuda`: a child process) only when a stage asks for CUDA or the config is sized for a GPU, so
    reading the Snakefile of a small CPU run never waits for torch."""
    devices = {"features.device": cfg.features.device, "metric.device": cfg.metric.device}
    asked = {key: spec for key, spec in devices.items() if spec.startswith("cuda")}
    auto = [key for key, spec in devices.items() if spec == "auto"]
    sized = cfg.features.input_size >= GPU_SIZED_INPUT
    specs = sorted(set(asked.values()) | ({"auto"} if auto and sized else set()))
    if not specs:
        return [], []
    found = (probe or probe_cuda)(specs)
    problems = [
        f"{key}: {spec}, but CUDA is not usable on this machine, where the jobs run: {found[spec]}. Set "
        f"{key}: auto (the CPU when no GPU is usable) or cpu, or run on a machine whose GPU torch can use"
        for key, spec in asked.items()
        if found[spec]
    ]
    warnings = []
    if auto and sized and found["auto"]:
        warnings.append(
            f"{' and '.join(auto)}: auto, and CUDA is not usable on this machine: {found['auto']}. This "
            f"config is sized for a GPU (features.input_size {cfg.features.input_size}): its "
            f"{'stages' if len(auto) > 1 else 'stage'} will run on the CPU, many times slower. Set "
            f"{' and '.join(auto)}: cpu to run there without this warning"
        )
    return problems, warnings


def probe_cuda(specs: Sequence[str]) -> dict[str, str | None]:
    """{spec: why it cannot run on CUDA here (torch's reason and what the build needs), or None}, asked
    of torch in a child process (`python -m bwot.device`): the Snakemake process neither imports torch
    nor initialises CUDA."""
    cmd = [sys.executable, "-m", "bwot.device", *specs]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        failure = f"no answer within {PROBE_TIMEOUT_S} s"
    else:
        lines = proc.stdout.strip().splitlines()
        try:
            if proc.returncode == 0 and lines:
                return json.loads(lines[-1])
        except json.JSONDecodeError:
            pass
        failure = " ".join(proc.stderr.split()[-60:]) or f"exit status {proc.returncode}"
    return {spec: f"asking torch failed ({' '.join(cmd)}): {failure}" for spec in specs}
