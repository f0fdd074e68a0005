"""The backbones, their feature layers and where their ImageNet weights are cached: facts about torchvision
models that the config check needs before anything is built (this module does not import torch)."""

from __future__ import annotations

import os
from pathlib import Path

BACKBONES = ("alexnet", "resnet18", "resnet34", "resnet50", "vgg11_bn")
# feature layers of each backbone, the usual one last (spatial ones are global-average pooled at extraction)
LAYERS: dict[str, tuple[str, ...]] = {
    "alexnet": ("pool5", "fc6", "fc7"),
    "vgg11_bn": ("pool5", "fc6", "fc7"),
    **{name: ("layer2", "layer3", "avgpool") for name in ("resnet18", "resnet34", "resnet50")},
}
SPATIAL = frozenset({"layer2", "layer3"})
# the file names of torchvision's default ImageNet weights (`get_model_weights(b).DEFAULT.url`; a test
# keeps them equal), so that the config check finds the cached file without importing torchvision
WEIGHT_FILES = {
    "alexnet": "alexnet-owt-7be5be79.pth",
    "resnet18": "resnet18-f37072fd.pth",
    "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-11ad3fa6.pth",
    "vgg11_bn": "vgg11_bn-6002323d.pth",
}


def resolve_layer(backbone: str, layer: str | None) -> str:
    """The feature layer to use: `layer`, or the backbone's usual one when None; fails listing valid ones."""
    if backbone not in LAYERS:
        raise ValueError(f"features.backbone '{backbone}' is not supported; valid: {', '.join(BACKBONES)}")
    if layer is None:
        return LAYERS[backbone][-1]
    if layer not in LAYERS[backbone]:
        raise ValueError(
            f"features.layer '{layer}' is not a feature layer of {backbone}; "
            f"valid layers: {', '.join(LAYERS[backbone])}"
        )
    return layer


def torch_hub_dir() -> Path:
    """torch.hub.get_dir() without importing torch: $TORCH_HOME/hub, else $XDG_CACHE_HOME/torch/hub."""
    home = os.environ.get("TORCH_HOME")
    if not home:
        home = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    return Path(os.path.expanduser(home)) / "hub"


def cached_weights_path(backbone: str) -> Path:
    """Where torchvision's cache keeps the default ImageNet weights of `backbone` (never downloaded)."""
    return torch_hub_dir() / "checkpoints" / WEIGHT_FILES[backbone]
