"""torchvision backbones for training: built by torchvision, optionally from ImageNet or another run's
weights, then cut at the feature layer (bwot.features.net). Loading a trained backbone does not need
torchvision: bwot.features.inference.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torchvision

from bwot.features.layers import cached_weights_path, resolve_layer
from bwot.features.net import FeatureNet, cut_model
from bwot.io import load_torch

log = logging.getLogger(__name__)


def build_backbone(
    backbone: str,
    layer: str | None,
    num_classes: int,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> FeatureNet:
    """A FeatureNet for `backbone` cut at `layer`, its last linear layer sized to `num_classes`.

    `state_dict`, when given, is a torchvision state_dict (RGB, 1000 classes) loaded before the
    conversion to one input channel and the new classifier, or the state_dict of a bwot backbone checkpoint
    (another run's backbone/<modality>.pt, e.g. one pretrained on the built-in benchmark): every tensor of
    the same name and shape is copied (the classifier too, when the class counts agree).
    """
    layer = resolve_layer(backbone, layer)
    if state_dict is not None and any(k.startswith("trunk.") for k in state_dict):
        model = build_backbone(backbone, layer, num_classes)
        _copy_matching(model, state_dict, backbone)
        return model
    model = torchvision.models.get_model(backbone, weights=None)
    if state_dict is not None:
        try:
            model.load_state_dict(state_dict)
        except RuntimeError as err:
            raise ValueError(f"pretrained weights do not fit {backbone}: {err}") from None
    return cut_model(model, backbone, layer, num_classes)


def _copy_matching(model: FeatureNet, state: dict[str, torch.Tensor], backbone: str) -> None:
    """Copy the tensors of a bwot checkpoint's state into `model` where names and shapes agree; the
    trunk must agree whole (the same backbone and layer), the classifier may differ (other classes)."""
    own = model.state_dict()
    same = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    trunk = [k for k in own if k.startswith("trunk.")]
    missing = [k for k in trunk if k not in same]
    if missing:
        raise ValueError(
            f"pretrained backbone checkpoint does not fit {backbone} at this layer: {len(missing)} of "
            f"{len(trunk)} trunk tensors differ (first: {missing[0]}); use one trained with the same "
            "features.backbone and features.layer"
        )
    model.load_state_dict(same, strict=False)
    log.info("initialised %d of %d tensors from a bwot backbone checkpoint", len(same), len(own))


def load_pretrained(
    backbone: str, weights: str | None, modality: str | None = None
) -> tuple[dict[str, torch.Tensor] | None, str]:
    """The state_dict chosen by `features.weights` and where it came from; never downloads.

    None: from scratch. "auto": torchvision's cached ImageNet weights when present, else from scratch.
    "imagenet": the cached weights, required. A file: a torchvision state_dict or a bwot backbone
    checkpoint. A folder: the bwot checkpoint `<folder>/<modality>.pt` of each modality (e.g. another run's
    backbone/ folder). The second value says what was used: "scratch" or the file's path.
    """
    if weights is None:
        return None, "scratch"
    if weights in ("auto", "imagenet"):
        path = cached_weights_path(backbone)
        if not path.is_file():
            if weights == "auto":
                log.info("no cached weights at %s: %s trained from scratch", path, backbone)
                return None, "scratch"
            raise FileNotFoundError(
                f"features.weights 'imagenet': {backbone} weights not in torchvision's cache: {path} "
                "(nothing is downloaded; put the file there or set TORCH_HOME)"
            )
    else:
        path = Path(weights)
        if path.is_dir():
            path = path / f"{modality}.pt"
        if not path.is_file():
            raise FileNotFoundError(f"features.weights: weights file not found: {path}")
    state = load_torch(path, "torchvision state_dict or bwot backbone checkpoint")
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    log.info("pretrained %s weights from %s", backbone, path)
    return state, str(path)
