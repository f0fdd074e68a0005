"""The losses of the metric stage by name: a new loss is one FourBatchLoss subclass and one line here.

This table is the one place loss names are spelt: the config schema's choices, the Snakemake wildcard and
the trainer all read it. Each entry also names the `metric:` keys only that loss reads (its
hyper-parameters: a sweep of such a key trains only the losses that read it; every other metric key,
such as batch_size or lr, applies to all). Classes are imported on first use, so reading the table does not
import torch.
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple


class Entry(NamedTuple):
    """Where a loss class lives ("module:Class") and the metric keys its `from_config` reads."""

    target: str
    keys: tuple[str, ...]


OT_KEYS = ("margin", "lamb", "gamma", "sinkhorn_iters", "sinkhorn_log_domain", "sinkhorn_tol", "detach_plan")
LOSSES: dict[str, Entry] = {
    "ot": Entry("bwot.losses.ot:BatchOTLoss", OT_KEYS),
    "contrastive": Entry("bwot.losses.baselines:ContrastiveLoss", ("margin",)),
    "lifted": Entry("bwot.losses.baselines:LiftedStructLoss", ("margin",)),
    "npair": Entry("bwot.losses.baselines:NPairLoss", ("npair_reg",)),
}
LOSS_KEYS = frozenset(k for entry in LOSSES.values() for k in entry.keys)


def loss_class(name: str) -> Any:
    """The FourBatchLoss subclass registered as `name`."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
    module, _, attr = LOSSES[name].target.partition(":")
    return getattr(importlib.import_module(module), attr)


def build_loss(name: str, cfg: Any) -> Any:
    """The loss `name` with the hyper-parameters of a `metric:` config section."""
    return loss_class(name).from_config(cfg)


def reads(name: str, key: str) -> bool:
    """Whether training with loss `name` depends on metric key `key` (its own keys, or a shared one)."""
    return key in LOSSES[name].keys or key not in LOSS_KEYS
