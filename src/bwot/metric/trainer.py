"""Training of the metric networks with one loss: the original's sampling and optimiser, checkpoints, resume.

Each step draws the loss's batches (two random sketch batches s1, s2 and two shape batches p1, p2 of size B;
n-pair: one paired batch, as the original) and takes one optimiser step on the loss. The learning rate
decays continuously: lr_t = lr * decay_rate ** (t / decay_steps) (TF's exponential_decay, not staircase).
Every `checkpoint_every` steps the networks, optimiser, step, history and the RNG states (numpy sampler,
torch, python) are written atomically to `<checkpoints>/checkpoint.pt`; a restarted run resumes from it and,
on CPU with the same seed, ends with bit-identical weights to an uninterrupted run.

`train_metric` = `setup` (data, networks, optimiser, loss, resume) + `run_steps` (the loop) + `write_outputs`.

On a GPU a step never waits for the device: the step's indices are copied from pinned memory without
blocking, and the loss values stay on the device until the history is synced, once per validation,
checkpoint, stop or HISTORY_SYNC_MAX steps (the NaN check runs there). `cuda_graphs` replays the whole
step (forward, loss, backward, update) as one captured CUDA graph.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from bwot.config import MetricConfig, job_keys
from bwot.device import resolve_device
from bwot.io import CheckpointError, PathLike, load_torch, save_torch, set_aside, write_csv
from bwot.losses.base import BLOCKS, FourBatches, FourBatchLoss
from bwot.losses.registry import build_loss
from bwot.metric.data import MetricData, load_metric_data, validation_map
from bwot.metric.model import save_metric_model
from bwot.metric.networks import MetricNets
from bwot.optim import make_optimizer

log = logging.getLogger(__name__)

STEP_COLUMNS = ["step", "loss", *(f"part_{b}" for b in BLOCKS), "lr", "val_map", "wall_s"]
CHECKPOINT = "checkpoint.pt"
HISTORY_SYNC_MAX = 1000  # steps whose loss values may wait on the device before the history is synced


@dataclass
class Run:
    """Everything one training run works with (made by `setup`)."""

    cfg: Any  # MetricConfig
    loss_name: str
    seed: int
    device: torch.device
    data: MetricData
    nets: MetricNets
    optimizer: torch.optim.Optimizer
    loss: FourBatchLoss
    rng: np.random.Generator
    checkpoint: Path
    fingerprint: str
    steps: int
    start_step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    wall: float = 0.0
    train_step: Callable[[float], tuple[Tensor, Tensor]] | None = None  # made once (a CUDA graph is captured)


def train_metric(
    shapes_h5: PathLike,
    sketches_h5: PathLike,
    model_out: PathLike,
    history_out: PathLike,
    checkpoints: PathLike,
    cfg: Mapping[str, Any] | Any,
    loss: str,
    seed: int = 0,
    stop_at: int | None = None,
) -> None:
    """Train the metric networks with `loss` and write model.pt and history.csv (resuming from a checkpoint).

    cfg: the `metric:` config section (a MetricConfig, or a mapping: missing keys take the schema's
    defaults). stop_at: end the run after that step and its checkpoint without writing the outputs (an
    interruption, for tests).
    """
    run = setup(shapes_h5, sketches_h5, checkpoints, MetricConfig.from_mapping(cfg), loss, seed)
    if run_steps(run, stop_at):
        write_outputs(run, model_out, history_out, checkpoints)


def setup(
    shapes_h5: PathLike, sketches_h5: PathLike, checkpoints: PathLike, cfg: Any, loss: str, seed: int
) -> Run:
    """Read the features, build networks, optimiser and loss (seeded), and resume from a checkpoint."""
    loss_fn = build_loss(loss, cfg)
    device = resolve_device(cfg.device)
    data = load_metric_data(shapes_h5, sketches_h5, cfg.val_fraction, seed)
    log.info(
        "loss %s on %s: %d shapes, %d training sketch samples, %d validation sketches, D=%d",
        loss, device, len(data.shapes), len(data.sketches), len(data.val_sketches), data.shapes.shape[1],
    )  # fmt: skip
    random.seed(seed)
    torch.manual_seed(seed)
    nets = MetricNets(
        data.sketches.shape[1], data.shapes.shape[1], cfg.sketch_widths, cfg.shape_widths, cfg.out_dim
    ).to(device)
    optimizer = make_optimizer(nets.parameters(), cfg.optimizer, lr=cfg.lr, momentum=cfg.momentum, fused=True)
    run = Run(
        cfg=cfg,
        loss_name=loss,
        seed=seed,
        device=device,
        data=data,
        nets=nets,
        optimizer=optimizer,
        loss=loss_fn,
        rng=np.random.default_rng(seed),
        checkpoint=Path(checkpoints) / CHECKPOINT,
        fingerprint=_fingerprint(cfg, loss, seed, data),
        steps=total_steps(cfg, len(data.sketches)),
    )
    if run.checkpoint.exists():
        _resume(run)
    return run


def run_steps(run: Run, stop_at: int | None = None) -> bool:
    """Train from the run's current step to the end; False when stopped early by `stop_at` (the run can
    then be continued by another call)."""
    cfg = run.cfg
    if run.train_step is None:
        run.train_step = make_train_step(run)
    validate = _validator(run.data, run.device)
    pending = _PendingHistory(run.loss_name)
    t0 = time.perf_counter() - run.wall
    run.nets.train()
    for step in range(run.start_step + 1, run.steps + 1):
        lr = cfg.lr * cfg.decay_rate ** ((step - 1) / cfg.decay_steps)
        value, parts = run.train_step(lr)
        pending.add(step, value, parts, lr, round(time.perf_counter() - t0, 3))
        validating = step % cfg.val_every == 0 or step == run.steps
        checkpointing = step % cfg.checkpoint_every == 0 and step < run.steps
        stopping = stop_at is not None and step >= stop_at
        if not (validating or checkpointing or stopping or len(pending) >= HISTORY_SYNC_MAX):
            continue
        rows = pending.flush()  # the one wait for the device: loss values (NaN check) to the history
        if validating:
            rows[-1]["val_map"] = validate(run.nets)
            rows[-1]["wall_s"] = round(time.perf_counter() - t0, 3)
            row = rows[-1]
            log.info("step %d loss %.5f val mAP %.4f lr %.3g", step, row["loss"], row["val_map"], lr)
        run.history.extend(rows)
        run.start_step, run.wall = step, rows[-1]["wall_s"]
        if checkpointing:
            _save_checkpoint(run, step)
        if stopping:
            log.info("stopping after step %d as asked (stop_at)", step)
            return False
    return True


class _PendingHistory:
    """History rows whose loss values are still on the device: `flush` copies them to the host at once,
    makes the rows and raises FloatingPointError at the first loss that is not finite."""

    def __init__(self, loss_name: str) -> None:
        self.loss_name = loss_name
        self.rows: list[tuple[int, float, float]] = []  # step, lr, wall_s
        self.values: list[Tensor] = []
        self.parts: list[Tensor] = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, step: int, value: Tensor, parts: Tensor, lr: float, wall: float) -> None:
        """One step's loss (a scalar tensor) and block parts (4,), left where they are."""
        self.rows.append((step, lr, wall))
        self.values.append(value)
        self.parts.append(parts)

    def flush(self) -> list[dict[str, Any]]:
        """The pending rows (step, loss, parts, lr, val_map None, wall_s); empties the queue."""
        if not self.rows:
            return []
        values = torch.stack(self.values).cpu().tolist()
        parts = torch.stack(self.parts).cpu().tolist()
        out = []
        for (step, lr, wall), value, p in zip(self.rows, values, parts, strict=True):
            if not math.isfinite(value):
                raise FloatingPointError(f"loss {self.loss_name} became {value} at step {step}")
            out.append(_row(step, value, p, lr, wall))
        self.rows, self.values, self.parts = [], [], []
        return out


def write_outputs(run: Run, model_out: PathLike, history_out: PathLike, checkpoints: PathLike) -> None:
    """history.csv and model.pt (with the loss, steps, seed, last validation mAP and device); the
    checkpoints folder is removed unless `keep_checkpoints`."""
    write_csv(history_out, pd.DataFrame(run.history, columns=STEP_COLUMNS))
    meta = {
        "loss": run.loss_name,
        "steps": run.steps,
        "seed": run.seed,
        "val_map": run.history[-1]["val_map"] if run.history else None,
        "device": str(run.device),
    }
    save_metric_model(model_out, run.nets, meta)
    if not run.cfg.keep_checkpoints:
        shutil.rmtree(checkpoints, ignore_errors=True)
    log.info("wrote %s and %s", model_out, history_out)


def total_steps(cfg: Any, n_samples: int) -> int:
    """`steps`, or, when `epochs` is set, epochs x ceil(training sketch samples / batch_size)."""
    if cfg.epochs is None:
        return int(cfg.steps)
    return int(cfg.epochs) * math.ceil(n_samples / cfg.batch_size)


def make_step(run: Run) -> Callable[[], tuple[Tensor, Tensor]]:
    """One step's sampling and loss: returns (loss, its four block parts (4,) detached, NaN where not
    applicable), both on the run's device. Both batches of a modality go through their network in one
    pass."""
    forward = _forward(run)
    data, device, b = run.data, run.device, run.cfg.batch_size

    def step() -> tuple[Tensor, Tensor]:
        i, j = run.loss.sample(run.rng, data.sketch_labels, data.shape_labels, b)
        return forward(_indices(i, device), _indices(j, device))

    return step


def make_train_step(run: Run) -> Callable[[float], tuple[Tensor, Tensor]]:
    """One training step at learning rate `lr` (sampling, loss, backward, optimiser update): returns the
    loss and its block parts, detached, on the device. With `cuda_graphs` on a GPU the step is a replayed
    CUDA graph (`_graphed_train_step`); elsewhere it runs eagerly."""
    if run.cfg.cuda_graphs and run.device.type == "cuda":
        return _graphed_train_step(run)
    step = make_step(run)

    def train_step(lr: float) -> tuple[Tensor, Tensor]:
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        value, parts = step()
        run.optimizer.zero_grad(set_to_none=True)
        value.backward()
        run.optimizer.step()
        return value.detach(), parts

    return train_step


def _forward(run: Run) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """(sketch indices, shape indices) on the device -> (loss, block parts detached); the features and
    labels are moved to the device once."""
    data, device, b = run.data, run.device, run.cfg.batch_size
    sk, sk_lab = torch.from_numpy(data.sketches).to(device), torch.from_numpy(data.sketch_labels).to(device)
    sh, sh_lab = torch.from_numpy(data.shapes).to(device), torch.from_numpy(data.shape_labels).to(device)

    def forward(i: Tensor, j: Tensor) -> tuple[Tensor, Tensor]:
        es, ep = run.nets.sketch(sk[i]), run.nets.shape(sh[j])
        ls, lp = sk_lab[i], sh_lab[j]
        batches = FourBatches(es[:b], es[b:], ep[:b], ep[b:], ls[:b], ls[b:], lp[:b], lp[b:])
        parts = run.loss.block_losses(batches)
        return run.loss.total(parts), parts.detach()

    return forward


def _indices(idx: np.ndarray, device: torch.device) -> Tensor:
    """Sampled indices as a tensor on `device`; to a GPU from pinned memory, without waiting for it."""
    t = torch.from_numpy(idx)
    if device.type != "cuda":
        return t
    return t.pin_memory().to(device, non_blocking=True)


def _graphed_train_step(run: Run) -> Callable[[float], tuple[Tensor, Tensor]]:
    """The training step captured as one CUDA graph and replayed: per step only the indices (pinned,
    non-blocking) and the learning rate (a device tensor) change. SGD only, fixed Sinkhorn sweeps.

    Capture needs a few warm-up steps first; they run on a fixed batch and are undone (`_undone`), so
    training goes on from where it stood.
    """
    cfg, opt, device, data = run.cfg, run.optimizer, run.device, run.data
    if cfg.optimizer != "sgd" or cfg.sinkhorn_tol is not None:
        raise ValueError("metric.cuda_graphs needs optimizer: sgd and sinkhorn_tol: null")
    forward = _forward(run)
    i0, j0 = run.loss.sample(np.random.default_rng(0), data.sketch_labels, data.shape_labels, cfg.batch_size)
    static_i, static_j = torch.from_numpy(i0).to(device), torch.from_numpy(j0).to(device)
    lr = torch.tensor(cfg.lr, dtype=torch.float32, device=device)
    for group in opt.param_groups:
        group["lr"] = lr

    def step() -> tuple[Tensor, Tensor]:
        value, parts = forward(static_i, static_j)
        value.backward()
        opt.step()
        return value.detach(), parts

    with _undone(opt):
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(3):
                opt.zero_grad(set_to_none=True)
                step()
        torch.cuda.current_stream(device).wait_stream(side)
    opt.zero_grad(set_to_none=True)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_value, static_parts = step()

    def train_step(lr_now: float) -> tuple[Tensor, Tensor]:
        i, j = run.loss.sample(run.rng, data.sketch_labels, data.shape_labels, cfg.batch_size)
        static_i.copy_(torch.from_numpy(i).pin_memory(), non_blocking=True)
        static_j.copy_(torch.from_numpy(j).pin_memory(), non_blocking=True)
        lr.fill_(lr_now)
        graph.replay()
        return static_value.clone(), static_parts.clone()

    return train_step


@contextmanager
def _undone(opt: torch.optim.Optimizer) -> Iterator[None]:
    """Undo the SGD steps taken inside: the weights and momentum buffers are restored in place (the
    tensors a graph captures stay the same). Buffers that did not exist before are zeroed: from zero,
    the next update's momentum is the gradient, as in SGD's first step."""
    params = [p for group in opt.param_groups for p in group["params"]]
    weights = [p.detach().clone() for p in params]
    momentum = [opt.state[p].get("momentum_buffer") for p in params]
    momentum = [None if m is None else m.clone() for m in momentum]
    yield
    with torch.no_grad():
        for p, w, m in zip(params, weights, momentum, strict=True):
            p.copy_(w)
            buffer = opt.state[p].get("momentum_buffer")
            if buffer is None:
                continue
            if m is None:
                buffer.zero_()
            else:
                buffer.copy_(m)


def _validator(data: MetricData, device: torch.device) -> Callable[[MetricNets], float]:
    """mAP of the held-out sketches (rotation 0) against all shapes, Euclidean distance. The features go
    to the device at the first validation (not before the steps: a copy there would wait for the GPU)."""
    if len(data.val_sketches) == 0:
        return lambda nets: float("nan")
    on_device: list[Tensor] = []

    @torch.no_grad()
    def validate(nets: MetricNets) -> float:
        if not on_device:
            on_device.extend(torch.from_numpy(x).to(device) for x in (data.val_sketches, data.shapes))
        vs, sh = on_device
        nets.eval()
        q, t = nets.sketch(vs).double(), nets.shape(sh).double()
        nets.train()
        dist = torch.cdist(q, t).cpu().numpy()
        return validation_map(dist, data.val_labels, data.shape_labels)

    return validate


def _row(step: int, value: float, parts: list[float], lr: float, wall: float) -> dict[str, Any]:
    row = {"step": step, "loss": value}
    row.update({f"part_{k}": (None if math.isnan(x) else x) for k, x in zip(BLOCKS, parts, strict=True)})
    row.update({"lr": lr, "val_map": None, "wall_s": wall})
    return row


def _fingerprint(cfg: Any, loss: str, seed: int, data: MetricData) -> str:
    """What a checkpoint must match to be resumed: the training config, loss, seed and the data's size."""
    values = cfg.as_dict()
    keys = {
        k: values[k] for k in job_keys("metric", loss=loss)
    }  # a checkpoint resumes under other bookkeeping
    blob = json.dumps(
        [keys, loss, seed, data.shapes.shape, data.sketches.shape, int(data.sketch_labels.sum())],
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _save_checkpoint(run: Run, step: int) -> None:
    rng_state = {"numpy": json.dumps(run.rng.bit_generator.state), "torch": torch.get_rng_state()}
    rng_state["python"] = json.dumps(random.getstate())
    if torch.cuda.is_available():
        rng_state["cuda"] = torch.cuda.get_rng_state_all()
    save_torch(
        run.checkpoint,
        {
            "fingerprint": run.fingerprint,
            "step": step,
            "nets": run.nets.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "rng": rng_state,
            "history": json.dumps(run.history),
            "wall": run.wall,
        },
    )


def _resume(run: Run) -> None:
    """Load the checkpoint into the run; start afresh (with a warning) when it was written for other
    settings or data. A checkpoint that cannot be used (unsafe, corrupt, foreign) must not block every
    rerun: it is set aside for inspection beside the checkpoints folder (which is removed when training
    ends) and the run starts afresh."""
    try:
        blob = load_torch(run.checkpoint, "bwot training checkpoint", map_location=run.device)
        if not isinstance(blob, dict) or not {"fingerprint", "step", "nets", "rng"} <= set(blob):
            raise CheckpointError(run.checkpoint, "not a bwot training checkpoint (keys missing)")
    except CheckpointError as err:
        kept = set_aside(run.checkpoint, into=run.checkpoint.parent.parent)  # outlives checkpoints/
        log.warning("%s; set aside as %s, training starts afresh", err, kept)
        return
    if blob.get("fingerprint") != run.fingerprint:
        log.warning(
            "%s was written for another config or data: ignoring it and starting afresh", run.checkpoint
        )
        return
    run.nets.load_state_dict(blob["nets"])
    run.optimizer.load_state_dict(blob["optimizer"])
    run.rng.bit_generator.state = json.loads(blob["rng"]["numpy"])
    torch.set_rng_state(blob["rng"]["torch"].cpu())
    py = json.loads(blob["rng"]["python"])
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in blob["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in blob["rng"]["cuda"]])
    run.start_step, run.history, run.wall = blob["step"], json.loads(blob["history"]), blob["wall"]
    log.info("resumed from %s at step %d", run.checkpoint, blob["step"])
