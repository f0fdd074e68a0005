"""What only the workflow needs of the config: each job's params, and the checks before any job runs.

The Snakefile and rules/*.smk use this module; it sits above the stages (docs/architecture.md).

- `job_params(section, values, ...)`: the keys of a section that decide what one job computes, the one
  way every rule builds its params (a change of one reruns the job; a change of any other key does not).
  The schema's marks decide which (bwot.config.job_keys).
- `full_section(config, section, params)`: what a job's script runs with, the run's section under its
  params.
- `preflight(cfg)`: what would fail after jobs have run, found before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bwot.config import Config, FeaturesConfig, job_keys
from bwot.datasets.layouts import layout_problems
from bwot.features.layers import LAYERS, cached_weights_path


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
