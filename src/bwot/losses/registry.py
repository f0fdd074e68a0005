"""The losses of the metric stage by name: a new loss is one FourBatchLoss subclass and one line here.

This table is the one place loss names are spelt: the config schema's choices, the Snakemake wildcard and
the trainer all read it. Classes are imported on first use, so reading the names does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

LOSSES: dict[str, str] = {
    "ot": "bwot.losses.ot:BatchOTLoss",
    "contrastive": "bwot.losses.baselines:ContrastiveLoss",
    "lifted": "bwot.losses.baselines:LiftedStructLoss",
    "npair": "bwot.losses.baselines:NPairLoss",
}


def loss_class(name: str) -> Any:
    """The FourBatchLoss subclass registered as `name`."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
    module, _, attr = LOSSES[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def build_loss(name: str, cfg: Any) -> Any:
    """The loss `name` with the hyper-parameters of a `metric:` config section."""
    return loss_class(name).from_config(cfg)
