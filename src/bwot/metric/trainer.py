"""Training of the metric networks with one loss: the original's sampling and optimiser, checkpoints, resume.

Each step draws two independent random sketch batches (s1, s2) and two shape batches (p1, p2) of size B
(n-pair: one paired batch, as the original) and takes one optimiser step on the loss. The learning rate
decays continuously: lr_t = lr * decay_rate ** (t / decay_steps) (TF's exponential_decay, not staircase).
Every `checkpoint_every` steps the networks, optimiser, step, history and the RNG states (numpy sampler,
torch, python) are written atomically to `<checkpoints>/checkpoint.pt`; a restarted run resumes from it and,
on CPU with the same seed, ends with bit-identical weights to an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from bwot.device import resolve_device
from bwot.io import PathLike, save_torch, write_csv
from bwot.losses import BatchOTLoss, OTOptions, contrastive_blocks, lifted_blocks, npairs_loss
from bwot.metric.data import MetricData, load_metric_data, mean_average_precision, npair_batch, random_batch
from bwot.metric.model import save_metric_model
from bwot.metric.networks import MetricNets

log = logging.getLogger(__name__)

LOSSES = ("ot", "contrastive", "lifted", "npair")
HISTORY_COLUMNS = ["step", "loss", "part_ss", "part_pp", "part_sp1", "part_sp2", "lr", "val_map", "wall_s"]
CHECKPOINT = "checkpoint.pt"

DEFAULTS: dict[str, Any] = {
    "device": "auto",
    "out_dim": 100,
    "sketch_widths": [2000, 1000, 500],
    "shape_widths": [2000, 2000, 1000, 500],
    "batch_size": 30,
    "margin": 1.0,
    "lamb": 10.0,
    "gamma": 10.0,
    "sinkhorn_iters": 20,
    "sinkhorn_log_domain": False,
    "sinkhorn_tol": None,
    "detach_plan": False,
    "npair_reg": 2e-4,
    "optimizer": "sgd",
    "lr": 5e-4,
    "momentum": 0.9,
    "decay_rate": 0.9,
    "decay_steps": 60000,
    "steps": 600,
    "epochs": None,
    "val_every": 100,
    "checkpoint_every": 200,
    "val_fraction": 0.15,
    "keep_checkpoints": False,
}

Objective = Callable[[MetricNets, np.random.Generator], tuple[Tensor, Tensor]]


def train_metric(
    shapes_h5: PathLike,
    sketches_h5: PathLike,
    model_out: PathLike,
    history_out: PathLike,
    checkpoints: PathLike,
    cfg: dict[str, Any],
    loss: str,
    seed: int = 0,
    stop_at: int | None = None,
) -> None:
    """Train the metric networks with `loss` and write model.pt and history.csv (resuming from a checkpoint).

    cfg: the `metric:` config section (missing keys take DEFAULTS). stop_at: end the run after that step
    and its checkpoint without writing the outputs (an interruption, for tests).
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose from {list(LOSSES)}")
    cfg = {**DEFAULTS, **{k: v for k, v in cfg.items() if k != "losses"}}
    device = resolve_device(cfg["device"])
    data = load_metric_data(shapes_h5, sketches_h5, cfg["val_fraction"], seed)
    log.info(
        "loss %s on %s: %d shapes, %d training sketch samples, %d validation sketches, D=%d",
        loss, device, len(data.shapes), len(data.sketches), len(data.val_sketches), data.shapes.shape[1],
    )  # fmt: skip
    fingerprint = _fingerprint(cfg, loss, seed, data)

    random.seed(seed)
    torch.manual_seed(seed)
    nets = MetricNets(
        data.sketches.shape[1],
        data.shapes.shape[1],
        cfg["sketch_widths"],
        cfg["shape_widths"],
        cfg["out_dim"],
    ).to(device)
    optimizer = _optimizer(nets, cfg)
    rng = np.random.default_rng(seed)
    state = {"step": 0, "history": [], "wall": 0.0}
    ckpt_path = Path(checkpoints) / CHECKPOINT
    if ckpt_path.exists():
        state = _resume(ckpt_path, fingerprint, nets, optimizer, rng, device) or state

    objective = make_objective(loss, cfg, data, device)
    val = _validator(data, device)
    history: list[dict[str, Any]] = state["history"]
    t0 = time.perf_counter() - state["wall"]
    steps = total_steps(cfg, len(data.sketches))
    nets.train()
    for step in range(state["step"] + 1, steps + 1):
        lr = cfg["lr"] * cfg["decay_rate"] ** ((step - 1) / cfg["decay_steps"])
        for group in optimizer.param_groups:
            group["lr"] = lr
        value, parts = objective(nets, rng)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        row = _row(step, value, parts, lr)
        if step % cfg["val_every"] == 0 or step == steps:
            row["val_map"] = val(nets)
            log.info("step %d loss %.5f val mAP %.4f lr %.3g", step, row["loss"], row["val_map"], lr)
        row["wall_s"] = round(time.perf_counter() - t0, 3)
        history.append(row)
        if not math.isfinite(row["loss"]):
            raise FloatingPointError(f"loss {loss} became {row['loss']} at step {step}")
        if step % cfg["checkpoint_every"] == 0 and step < steps:
            _save_checkpoint(ckpt_path, fingerprint, step, nets, optimizer, rng, history, row["wall_s"])
        if stop_at is not None and step >= stop_at:
            log.info("stopping after step %d as asked (stop_at)", step)
            return
    write_csv(history_out, pd.DataFrame(history, columns=HISTORY_COLUMNS))
    meta = {
        "loss": loss,
        "steps": steps,
        "seed": seed,
        "val_map": history[-1]["val_map"] if history else None,
    }
    save_metric_model(model_out, nets, meta)
    if not cfg["keep_checkpoints"]:
        shutil.rmtree(checkpoints, ignore_errors=True)
    log.info("wrote %s and %s", model_out, history_out)


def total_steps(cfg: dict[str, Any], n_samples: int) -> int:
    """`steps`, or, when `epochs` is set, epochs x ceil(training sketch samples / batch_size)."""
    if cfg.get("epochs") is None:
        return int(cfg["steps"])
    return int(cfg["epochs"]) * math.ceil(n_samples / cfg["batch_size"])


def make_objective(loss: str, cfg: dict[str, Any], data: MetricData, device: torch.device) -> Objective:
    """The per-step sampler + loss: returns (loss, its four block parts (4,), NaN where not applicable)."""
    sk = torch.from_numpy(data.sketches).to(device)
    sk_lab = torch.from_numpy(data.sketch_labels).to(device)
    sh = torch.from_numpy(data.shapes).to(device)
    sh_lab = torch.from_numpy(data.shape_labels).to(device)
    b = cfg["batch_size"]

    if loss == "npair":

        def npair(nets: MetricNets, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
            i, j = npair_batch(rng, data.sketch_labels, data.shape_labels, b)
            value = npairs_loss(sk_lab[i], nets.sketch(sk[i]), nets.shape(sh[j]), cfg["npair_reg"])
            nan = torch.tensor(float("nan"))
            return value, torch.stack([nan, nan, value.detach().cpu(), nan])

        return npair

    if loss == "ot":
        options = OTOptions(
            log_domain=cfg["sinkhorn_log_domain"], tol=cfg["sinkhorn_tol"], detach_plan=cfg["detach_plan"]
        )
        ot = BatchOTLoss(cfg["margin"], cfg["lamb"], cfg["gamma"], cfg["sinkhorn_iters"], options)
        blocks = ot.block_losses
    elif loss == "contrastive":

        def blocks(*args: Tensor) -> Tensor:
            return contrastive_blocks(*args, margin=cfg["margin"])
    else:

        def blocks(*args: Tensor) -> Tensor:
            return lifted_blocks(*args, margin=cfg["margin"])

    def four_blocks(nets: MetricNets, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
        i = np.concatenate([random_batch(rng, len(sk), b), random_batch(rng, len(sk), b)])
        j = np.concatenate([random_batch(rng, len(sh), b), random_batch(rng, len(sh), b)])
        es, ep = nets.sketch(sk[i]), nets.shape(sh[j])  # both batches of a modality in one pass
        parts = blocks(
            es[:b], es[b:], ep[:b], ep[b:], sk_lab[i[:b]], sk_lab[i[b:]], sh_lab[j[:b]], sh_lab[j[b:]]
        )
        return parts.sum(), parts.detach().cpu()

    return four_blocks


def _validator(data: MetricData, device: torch.device) -> Callable[[MetricNets], float]:
    """mAP of the held-out sketches (rotation 0) against all shapes, squared Euclidean distance."""
    if len(data.val_sketches) == 0:
        return lambda nets: float("nan")
    vs = torch.from_numpy(data.val_sketches).to(device)
    sh = torch.from_numpy(data.shapes).to(device)

    @torch.no_grad()
    def validate(nets: MetricNets) -> float:
        nets.eval()
        q, t = nets.sketch(vs).double(), nets.shape(sh).double()
        nets.train()
        dist = torch.cdist(q, t).cpu().numpy()
        return mean_average_precision(dist, data.val_labels, data.shape_labels)

    return validate


def _optimizer(nets: MetricNets, cfg: dict[str, Any]) -> torch.optim.Optimizer:
    if cfg["optimizer"] == "sgd":
        return torch.optim.SGD(nets.parameters(), lr=cfg["lr"], momentum=cfg["momentum"], fused=True)
    if cfg["optimizer"] == "adam":
        return torch.optim.Adam(nets.parameters(), lr=cfg["lr"], fused=True)
    raise ValueError(f"unknown optimizer {cfg['optimizer']!r} (sgd | adam)")


def _row(step: int, value: Tensor, parts: Tensor, lr: float) -> dict[str, Any]:
    p = [float(x) for x in parts.tolist()]
    row = {"step": step, "loss": float(value.detach())}
    names = ("ss", "pp", "sp1", "sp2")
    row.update({f"part_{k}": (None if math.isnan(x) else x) for k, x in zip(names, p, strict=True)})
    row.update({"lr": lr, "val_map": None})
    return row


def _fingerprint(cfg: dict[str, Any], loss: str, seed: int, data: MetricData) -> str:
    """What a checkpoint must match to be resumed: the training config, loss, seed and the data's size."""
    keys = {k: v for k, v in cfg.items() if k not in ("val_every", "checkpoint_every", "keep_checkpoints")}
    blob = json.dumps(
        [keys, loss, seed, data.shapes.shape, data.sketches.shape, int(data.sketch_labels.sum())],
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _save_checkpoint(
    path: Path,
    fingerprint: str,
    step: int,
    nets: MetricNets,
    optimizer: torch.optim.Optimizer,
    rng: np.random.Generator,
    history: list[dict[str, Any]],
    wall: float,
) -> None:
    rng_state = {"numpy": json.dumps(rng.bit_generator.state), "torch": torch.get_rng_state()}
    rng_state["python"] = json.dumps(random.getstate())
    if torch.cuda.is_available():
        rng_state["cuda"] = torch.cuda.get_rng_state_all()
    save_torch(
        path,
        {
            "fingerprint": fingerprint,
            "step": step,
            "nets": nets.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": rng_state,
            "history": json.dumps(history),
            "wall": wall,
        },
    )


def _resume(
    path: Path,
    fingerprint: str,
    nets: MetricNets,
    optimizer: torch.optim.Optimizer,
    rng: np.random.Generator,
    device: torch.device,
) -> dict[str, Any] | None:
    """Load a checkpoint into nets/optimizer/rng; None (start afresh, with a warning) if it does not match."""
    blob = torch.load(path, map_location=device, weights_only=True)
    if blob.get("fingerprint") != fingerprint:
        log.warning("%s was written for another config or data: ignoring it and starting afresh", path)
        return None
    nets.load_state_dict(blob["nets"])
    optimizer.load_state_dict(blob["optimizer"])
    rng.bit_generator.state = json.loads(blob["rng"]["numpy"])
    torch.set_rng_state(blob["rng"]["torch"].cpu())
    py = json.loads(blob["rng"]["python"])
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in blob["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in blob["rng"]["cuda"]])
    log.info("resumed from %s at step %d", path, blob["step"])
    return {"step": blob["step"], "history": json.loads(blob["history"]), "wall": blob["wall"]}
