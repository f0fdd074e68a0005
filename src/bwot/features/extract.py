"""Features of every image of a modality with its trained backbone, written to one HDF5 file.

Shards are read in order, in chunks of whole items, by a background thread (or DataLoader workers), so
decoding and reading overlap the forward passes. Output (docs/features.md): `features` (n, K, D) float32,
`ids`, `labels`; shapes also `pooled` (n, D) = max over views; sketches also `splits`; attrs backbone,
layer, input_size and device (where the features were computed: the report's provenance says it).

The upright copy of a sketch (rotation 0: what a query is) goes through the CNN alone, one image per
forward pass, exactly as `bwot query` embeds a sketch; the other rotations go in batches. PyTorch takes
other convolution and matrix kernels for a single image than for a batch (bwot.tiles), so a feature
computed in a batch could differ in its last bits from the query's, and swap near-tied targets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from bwot.config import FeaturesConfig
from bwot.device import resolve_device
from bwot.features.data import ChunkDataset, index_shards, prefetch
from bwot.features.inference import embed_items, embed_upright, load_backbone
from bwot.features.lines import line_drawings
from bwot.features.net import FeatureNet, autocast, to_inputs
from bwot.io import h5_writer, set_attrs, write_strings

log = logging.getLogger(__name__)


def extract_features(
    model_path: str | Path,
    images: Sequence[str | Path],
    out_path: str | Path,
    modality: str,
    cfg: FeaturesConfig | Mapping[str, Any],
) -> dict[str, Any]:
    """Write the features file of `modality` for the shards `images`; return n, dim and images/s.

    Of `cfg` (the `features:` section) extraction reads device, extract_batch_size, workers and amp."""
    cfg = FeaturesConfig.from_mapping(cfg)
    device = resolve_device(cfg.device)
    model, meta = load_backbone(model_path, device)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    sketches = modality == "sketches"
    index = index_shards(images, sketches=sketches)
    n, (k, h, w) = len(index), index.item_shape
    size = meta["input_size"]
    amp = device.type == "cuda" and cfg.amp
    with torch.inference_mode():
        dim = model.embed(torch.zeros(1, 1, size, size, device=device)).shape[1]
    chunk = max(1, cfg.extract_batch_size // k)
    loader = DataLoader(
        ChunkDataset(
            index, chunk, line_drawings if not sketches and meta.get("view_style") == "lines" else None
        ),
        batch_size=None,
        num_workers=cfg.workers,
        pin_memory=device.type == "cuda",
    )
    start = time.perf_counter()
    with h5_writer(out_path) as f:
        kw = {"chunks": (min(n, chunk), k, dim)} if n else {}
        feats = f.create_dataset("features", shape=(n, k, dim), dtype="float32", **kw)
        pooled = f.create_dataset("pooled", shape=(n, dim), dtype="float32") if not sketches else None
        waiting: tuple[int, _Features] | None = None
        for first, batch in prefetch(loader, depth=3):
            # batch k is written while the device computes batch k + 1 (on a CPU: right after it)
            if sketches:  # upright copies one image at a time: a query embeds to the same bits
                out = _Features(embed_sketch_items(model, batch, size, device, amp), None)
            else:
                out = _embed_batch(model, batch, size, device, amp, pool=pooled is not None)
            if waiting is not None:
                _write(feats, pooled, *waiting)
            waiting = (first, out)
        if waiting is not None:
            _write(feats, pooled, *waiting)
        write_strings(f, "ids", index.ids)
        f.create_dataset("labels", data=index.labels)
        if sketches:
            write_strings(f, "splits", index.splits)
        attrs = {"backbone": meta["backbone"], "layer": meta["layer"], "input_size": size}
        set_attrs(f, {**attrs, "device": str(device)})  # the device: what the report says extraction ran on
    seconds = time.perf_counter() - start
    summary = {
        "items": n,
        "planes": k,
        "dim": dim,
        "seconds": seconds,
        "images_per_s": n * k / max(seconds, 1e-9),
    }
    log.info("%s: %s (image %dx%d)", out_path, summary, h, w)
    return summary


class _Features:
    """A batch's features (b, K, D) and max over K (b, D), on their way to the host: on a GPU copied into
    pinned memory without blocking, `get` waits for that copy only."""

    def __init__(self, features: torch.Tensor, pooled: torch.Tensor | None) -> None:
        self._event = None
        if features.device.type == "cuda":
            features, pooled = (None if t is None else _to_pinned(t) for t in (features, pooled))
            self._event = torch.cuda.Event()
            self._event.record()
        self._features, self._pooled = features, pooled

    def get(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(features, pooled or None) on the CPU."""
        if self._event is not None:
            self._event.synchronize()
        return self._features, self._pooled


def _to_pinned(t: torch.Tensor) -> torch.Tensor:
    host = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
    return host.copy_(t, non_blocking=True)


@torch.inference_mode()
def _embed_batch(
    model: FeatureNet, images: torch.Tensor, size: int, device: torch.device, amp: bool, pool: bool
) -> _Features:
    """Features (b, K, D) float32 of uint8 items (b, K, H, W) and, with `pool`, their max over K, both
    computed on `device` and left on their way to the host (see `_Features`)."""
    b, k = images.shape[:2]
    with autocast(device, amp):
        out = model.embed(to_inputs(images, size, device).flatten(0, 1))
    out = out.float().view(b, k, -1)
    return _Features(out, out.amax(dim=1) if pool else None)


def _write(feats: Any, pooled: Any, first: int, batch: _Features) -> None:
    """Store a batch's features (and pooled features) at rows first.. of the HDF5 datasets."""
    out, pooled_out = batch.get()
    feats[first : first + len(out)] = out.numpy()
    if pooled is not None:
        pooled[first : first + len(out)] = pooled_out.numpy()


def embed_sketch_items(
    model: FeatureNet, images: torch.Tensor, size: int, device: torch.device, amp: bool = False
) -> torch.Tensor:
    """`embed_items` of sketch items (b, R, H, W): the upright copies (plane 0) by `embed_upright`, the
    other rotations batched."""
    upright = embed_upright(model, images[:, 0], size, device, amp)[:, None]
    if images.shape[1] == 1:
        return upright
    return torch.cat([upright, embed_items(model, images[:, 1:], size, device, amp)], dim=1)
