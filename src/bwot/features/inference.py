"""A trained backbone, loaded and run: `load_backbone` (without torchvision: bwot.features.arch) and the
features of images, in batches (`embed_items`) or one image per pass on one thread (`embed_upright`, what a
query and a sketch's upright copy take: bwot.features.extract).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from bwot.features.arch import plain_model
from bwot.features.layers import resolve_layer
from bwot.features.net import FeatureNet, autocast, cut_model, to_inputs
from bwot.io import CheckpointError, load_torch


def load_backbone(path: str | Path, device: str | torch.device = "cpu") -> tuple[FeatureNet, dict[str, Any]]:
    """The trained FeatureNet of a checkpoint (eval mode, on `device`) and the checkpoint's config."""
    ckpt = load_torch(path, "bwot backbone checkpoint")
    keys = ("backbone", "layer", "input_size", "num_classes", "state_dict")
    missing = [k for k in keys if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise CheckpointError(path, f"not a bwot backbone checkpoint (missing {', '.join(missing)})")
    try:
        layer = resolve_layer(ckpt["backbone"], ckpt["layer"])
        with torch.device("meta"):  # the layers without initialising them: the checkpoint replaces them
            model = cut_model(plain_model(ckpt["backbone"]), ckpt["backbone"], layer, ckpt["num_classes"])
        model.load_state_dict(ckpt["state_dict"], assign=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(
            path, f"a damaged bwot backbone checkpoint ({type(err).__name__}: {err})"
        ) from None
    model = model.to(torch.device(device), memory_format=torch.channels_last).eval()
    return model, {k: v for k, v in ckpt.items() if k != "state_dict"}


@torch.inference_mode()
def embed_items(
    model: FeatureNet, images: torch.Tensor, size: int, device: torch.device, amp: bool = False
) -> torch.Tensor:
    """Features (b, K, D) float32 on the CPU of uint8 items (b, K, H, W)."""
    b, k = images.shape[:2]
    with autocast(device, amp):
        out = model.embed(to_inputs(images, size, device).flatten(0, 1))
    return out.float().view(b, k, -1).cpu()


def embed_upright(
    model: FeatureNet, images: torch.Tensor, size: int, device: torch.device, amp: bool = False
) -> torch.Tensor:
    """Features (n, D) float32 on the CPU of n >= 1 uint8 images (n, H, W), one image per forward pass on
    one CPU thread: the same kernels and work split for a query embedded alone and for a sketch's upright
    copy in `extract_features` (one small image gains nothing from more threads on a CPU: they wait)."""
    with one_thread():
        alone = [embed_items(model, images[i : i + 1, None], size, device, amp) for i in range(len(images))]
    return torch.cat(alone)[:, 0]


@contextmanager
def one_thread() -> Iterator[None]:
    """torch's CPU operations on one thread inside the block; the thread count is restored after it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
