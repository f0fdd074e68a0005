"""Fine-tune (or train from scratch) a backbone per modality on its own training data.

shapes: MVCNN (the trunk per view, max over views, the head); each step sees `train_views` random views
of each model, validation all views. sketches: single images; each epoch sees every training sketch
`train_rotations` times, each time one random stored rotation with a light random affine and mirror;
validation on the upright copy (the query of the SHREC protocol). The validation split is drawn from the
training data only (bwot.splits.holdout_split): models for shapes, training sketches for sketches.
With `epoch_images` an epoch is that many images instead of one pass (StreamSampler), so the training
costs the same whatever the dataset's size.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Sampler

from bwot.config import FeaturesConfig
from bwot.device import resolve_device
from bwot.features.backbones import build_backbone, load_pretrained
from bwot.features.data import ItemDataset, ShardIndex, index_shards
from bwot.features.layers import resolve_layer
from bwot.features.lines import line_drawings
from bwot.features.net import FeatureNet, autocast, to_inputs
from bwot.io import PathLike, save_torch, write_csv, write_json
from bwot.optim import make_optimizer
from bwot.splits import holdout_split

log = logging.getLogger(__name__)
EPOCH_COLUMNS = ["epoch", "loss", "train_acc", "val_acc", "images", "images_per_s", "lr", "wall_s"]


def train_backbone(
    images: Sequence[PathLike],
    model_path: PathLike,
    history_path: PathLike,
    modality: str,
    cfg: FeaturesConfig | Mapping[str, Any],
    seed: int = 0,
    summary_path: PathLike | None = None,
    extra_views: Sequence[PathLike] = (),
) -> dict[str, Any]:
    """Train the `modality` backbone on the shards `images`; write the best checkpoint and the history.

    sketches with `cfg.sketch_views` > 0 also train on that many random views per epoch of every model of
    the views shards `extra_views`, drawn as lines; shapes with `cfg.view_style: lines` see their views so.
    Returns a summary (backbone, layer, weights used, device, best epoch and its validation accuracy,
    epochs run, seconds), also written as JSON to `summary_path` when given.
    """
    if modality not in ("shapes", "sketches"):
        raise ValueError(f"modality must be shapes or sketches, got '{modality}'")
    cfg = FeaturesConfig.from_mapping(cfg)
    torch.manual_seed(seed)
    device = resolve_device(cfg.device)
    layer = resolve_layer(cfg.backbone, cfg.layer)
    index = index_shards(images, sketches=modality == "sketches")
    items = np.flatnonzero(index.splits == "train") if modality == "sketches" else np.arange(len(index))
    if len(items) == 0:
        raise ValueError(f"no training items in {', '.join(map(str, index.paths))}")
    tr, va = holdout_split(index.labels[items], cfg.val_fraction, seed)
    train_items, val_items = items[tr], items[va]
    views = index_shards(extra_views) if modality == "sketches" and cfg.sketch_views else None
    num_classes = int(max(index.labels.max(), views.labels.max() if views is not None else 0)) + 1
    state, weights = load_pretrained(cfg.backbone, cfg.weights, modality)
    model = build_backbone(cfg.backbone, layer, num_classes, state)
    model = model.to(device, memory_format=torch.channels_last)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    train_loader, val_loader = _loaders(index, train_items, val_items, modality, cfg, device, seed, views)
    optimizer = make_optimizer(
        model.parameters(), cfg.optimizer, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    scheduler = _scheduler(optimizer, cfg, cfg.epochs * len(train_loader), len(train_loader))
    amp = device.type == "cuda" and cfg.amp
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    log.info(
        "%s: %s/%s from %s, %d classes, %d train / %d val items, device %s",
        modality, cfg.backbone, layer, weights, num_classes, len(train_items), len(val_items), device,
    )  # fmt: skip
    rows: list[dict[str, float]] = []
    best, best_epoch, start = -1.0, 0, time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        stats = _train_epoch(model, train_loader, optimizer, scheduler, scaler, modality, cfg, device, amp)
        val_acc = _accuracy(model, val_loader, cfg.input_size, device, amp) if len(val_items) else math.nan
        score = stats["train_acc"] if math.isnan(val_acc) else val_acc
        rows.append(
            {"epoch": epoch, **stats, "val_acc": val_acc, "wall_s": round(time.perf_counter() - start, 3)}
        )
        log.info("epoch %d: %s", epoch, {k: round(v, 4) for k, v in rows[-1].items()})
        write_csv(history_path, pd.DataFrame(rows, columns=EPOCH_COLUMNS))
        if score > best:
            best, best_epoch = score, epoch
            meta = {"weights": weights, "device": str(device), "epoch": epoch, "val_acc": float(val_acc)}
            meta["view_style"] = cfg.view_style if modality == "shapes" else "sketch"
            save_torch(model_path, checkpoint(model, layer, cfg, num_classes, index, meta))
        elif epoch - best_epoch >= cfg.patience:
            log.info("early stop: no better validation accuracy for %d epochs", cfg.patience)
            break
    summary = {
        "modality": modality,
        "backbone": cfg.backbone,
        "layer": layer,
        "weights": weights,
        "device": str(device),
        "classes": len(np.unique(index.labels[items])),  # trained on (label space: num_classes)
        "train_items": len(train_items),
        "val_items": len(val_items),
        "line_views": len(views) * cfg.sketch_views if views is not None else 0,
        "view_style": cfg.view_style if modality == "shapes" else None,
        "best_epoch": best_epoch,
        "best_score": best,
        "epochs": len(rows),
        "seconds": round(time.perf_counter() - start, 3),
    }
    if summary_path is not None:
        write_json(summary_path, summary)
    return summary


def checkpoint(
    model: FeatureNet,
    layer: str,
    cfg: FeaturesConfig,
    num_classes: int,
    index: ShardIndex,
    meta: Mapping[str, Any],
) -> dict[str, Any]:
    """The checkpoint: config and state_dict, tensors and plain types only (loads with weights_only=True)."""
    return {
        "backbone": cfg.backbone,
        "layer": layer,
        "input_size": int(cfg.input_size),
        "num_classes": num_classes,
        **meta,
        "item_shape": [int(s) for s in index.item_shape],
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
    }


def _loaders(
    index: ShardIndex,
    train_items: np.ndarray,
    val_items: np.ndarray,
    modality: str,
    cfg: FeaturesConfig,
    device: torch.device,
    seed: int,
    views: ShardIndex | None = None,
) -> tuple[DataLoader, DataLoader]:
    """Training and validation loaders; batch sizes in images (shapes: models x views).

    Validation batches are as large as extraction's (`extract_batch_size` images): no gradients. `views`:
    the views shards whose line drawings join the sketches' training set (cfg.sketch_views per model).
    With cfg.epoch_images, a training epoch is that many images of a StreamSampler, not one pass.
    """
    k = index.item_shape[0]
    if modality == "shapes":
        style = line_drawings if cfg.view_style == "lines" else None
        n_views = min(cfg.train_views, k)
        train = ItemDataset(index, train_items, select=n_views, transform=style)
        val = ItemDataset(index, val_items, transform=style)
        per_item = n_views
        train_batch = max(1, cfg.batch_size // n_views)
        val_batch = max(1, cfg.extract_batch_size // k)
    else:
        train = ItemDataset(index, np.repeat(train_items, cfg.train_rotations), select=1)
        if views is not None:
            drawn = functools.partial(line_drawings, size=index.item_shape[-1])  # at the sketches' size
            picks = np.repeat(np.arange(len(views)), cfg.sketch_views)
            lines = ItemDataset(views, picks, select=1, transform=drawn)
            train = ConcatDataset([train, lines])
        val = ItemDataset(index, val_items, planes=[0])
        per_item, train_batch, val_batch = 1, cfg.batch_size, cfg.extract_batch_size
    workers = cfg.workers
    common = {"num_workers": workers, "pin_memory": device.type == "cuda", "persistent_workers": workers > 0}
    generator = torch.Generator().manual_seed(seed)
    if cfg.epoch_images is None:
        order = {"shuffle": True, "generator": generator}
    else:
        order = {"sampler": StreamSampler(len(train), max(1, cfg.epoch_images // per_item), generator)}
    return (
        DataLoader(train, batch_size=train_batch, **order, **common),
        DataLoader(val, batch_size=val_batch, shuffle=False, **common),
    )


class StreamSampler(Sampler[int]):
    """Epochs of `per_epoch` indices cut from one endless stream of shuffled passes over `n` items.

    An epoch can end inside a pass and the next one goes on from there, so every item is seen equally often
    over the run, however `per_epoch` compares with `n`.
    """

    def __init__(self, n: int, per_epoch: int, generator: torch.Generator) -> None:
        if n < 1 or per_epoch < 1:
            raise ValueError(f"StreamSampler: need items and a positive epoch, got {n} and {per_epoch}")
        self.n, self.per_epoch, self.generator = n, per_epoch, generator
        self._order: list[int] = []
        self._pos = 0

    def __len__(self) -> int:
        return self.per_epoch

    def __iter__(self) -> Iterator[int]:
        for _ in range(self.per_epoch):
            if self._pos == len(self._order):
                self._order, self._pos = torch.randperm(self.n, generator=self.generator).tolist(), 0
            self._pos += 1
            yield self._order[self._pos - 1]


def _scheduler(
    optimizer: torch.optim.Optimizer, cfg: FeaturesConfig, total_steps: int, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-step learning-rate factor: cosine to 0 over the run, or x step_gamma every step_epochs."""
    if cfg.schedule == "cosine":

        def factor(step: int) -> float:
            return 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(1, total_steps)))
    else:

        def factor(step: int) -> float:
            return cfg.step_gamma ** (step // max(1, cfg.step_epochs * steps_per_epoch))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Light random affine per image of (N, 1, S, S): scale 0.9-1.1, shift +-6%, shear +-0.1, mirror."""
    n = x.shape[0]
    r = torch.rand(n, 5, generator=generator).to(x.device)
    scale = 0.9 + 0.2 * r[:, 0]
    mirror = torch.where(r[:, 1] < 0.5, -1.0, 1.0).to(x.device)
    shear = 0.2 * r[:, 2] - 0.1
    theta = torch.zeros(n, 2, 3, device=x.device)
    theta[:, 0, 0] = scale * mirror
    theta[:, 0, 1] = shear
    theta[:, 1, 1] = scale
    theta[:, :, 2] = 0.12 * r[:, 3:5] - 0.06
    grid = nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    return nn.functional.grid_sample(x, grid, padding_mode="border", align_corners=False)


def _train_epoch(
    model: FeatureNet,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    modality: str,
    cfg: FeaturesConfig,
    device: torch.device,
    amp: bool,
) -> dict[str, float]:
    model.train()
    loss_sum, correct, seen, images_seen = 0.0, 0, 0, 0
    lr = optimizer.param_groups[0]["lr"]
    start = time.perf_counter()
    for images, labels in loader:
        x = to_inputs(images, cfg.input_size, device)
        if modality == "sketches":
            x = augment(x.flatten(0, 1)).unsqueeze(1)
        labels = labels.to(device, non_blocking=True)
        with autocast(device, amp):
            logits = model(x)
            loss = nn.functional.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        loss_sum += float(loss.detach()) * len(labels)
        correct += int((logits.argmax(1) == labels).sum())
        seen += len(labels)
        images_seen += x.shape[0] * x.shape[1]
    seconds = time.perf_counter() - start
    return {
        "loss": loss_sum / max(1, seen),
        "train_acc": correct / max(1, seen),
        "images": images_seen,
        "images_per_s": images_seen / max(seconds, 1e-9),
        "lr": lr,
    }


@torch.inference_mode()
def _accuracy(model: FeatureNet, loader: DataLoader, size: int, device: torch.device, amp: bool) -> float:
    model.eval()
    correct = seen = 0
    for images, labels in loader:
        with autocast(device, amp):
            logits = model(to_inputs(images, size, device))
        correct += int((logits.argmax(1).cpu() == labels).sum())
        seen += len(labels)
    return correct / max(1, seen)
