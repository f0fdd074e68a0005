"""The losses of the metric stage by name: a new loss is one FourBatchLoss subclass and one line here.

This table is the one list of losses: the config schema's choices and default `metric.losses`, the
Snakemake wildcard, the trainer, the tests and the GPU checks all read it. Each line names the loss class
and the hyper-parameters it reads, from HYPERPARAMETERS: the schema's `metric:` section takes those keys
(their types, bounds, defaults and descriptions) from here. A sweep of a hyper-parameter trains only the
losses that read it; every other metric key (batch_size, lr, ...) applies to all. Classes are imported on
first use, so reading the table does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

# The losses' hyper-parameters as `metric:` keys of the config schema (JSON schema of each key). Every
# one defines the method (x-protocol: a run that changes one departs from the paper's protocol).
HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    "margin": {
        "description": "margin of the negatives (OT ground metric, contrastive, lifted, triplet)",
        "type": "number",
        "default": 1.0,
    },
    "lamb": {
        "description": "OT: entropic regularisation of the transport plan (Sinkhorn's lambda)",
        "type": "number",
        "exclusiveMinimum": 0,
        "default": 10.0,
    },
    "gamma": {
        "description": "OT: scale of the ground metric inside the Sinkhorn kernel",
        "type": "number",
        "exclusiveMinimum": 0,
        "default": 10.0,
    },
    "sinkhorn_iters": {
        "description": "OT: Sinkhorn sweeps per block",
        "type": "integer",
        "minimum": 1,
        "default": 20,
    },
    "sinkhorn_log_domain": {
        "description": "OT: log-domain Sinkhorn (stable for large lamb)",
        "type": "boolean",
        "default": False,
    },
    "sinkhorn_tol": {
        "description": "OT: stop the sweeps at this marginal error (null: always sinkhorn_iters)",
        "type": ["null", "number"],
        "exclusiveMinimum": 0,
        "default": None,
    },
    "detach_plan": {
        "description": "OT: gradient through the ground metric only (the plan is a constant)",
        "type": "boolean",
        "default": False,
    },
    "npair_reg": {
        "description": "n-pair: weight of the L2 penalty on the embeddings (TF's reg_lambda)",
        "type": "number",
        "minimum": 0,
        "default": 0.0002,
    },
}


class Entry(NamedTuple):
    """Where a loss class lives ("module:Class") and the HYPERPARAMETERS its `from_config` reads."""

    target: str
    keys: tuple[str, ...]


OT_KEYS = ("margin", "lamb", "gamma", "sinkhorn_iters", "sinkhorn_log_domain", "sinkhorn_tol", "detach_plan")
LOSSES: dict[str, Entry] = {
    "ot": Entry("bwot.losses.ot:BatchOTLoss", OT_KEYS),
    "contrastive": Entry("bwot.losses.baselines:ContrastiveLoss", ("margin",)),
    "lifted": Entry("bwot.losses.baselines:LiftedStructLoss", ("margin",)),
    "npair": Entry("bwot.losses.baselines:NPairLoss", ("npair_reg",)),
    "triplet": Entry("bwot.losses.triplet:TripletSemiHardLoss", ("margin",)),
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
