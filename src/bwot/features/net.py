"""A backbone cut at a feature layer: a trunk (image -> feature) and a head (feature -> logits), in torch
alone (torchvision builds the layers for training, bwot.features.backbones; bwot.features.arch for loading).

A backbone is rewritten as an ordered list of named stages; the configured feature layer splits that
list. The trunk ends at the feature layer, so extraction never runs the classifier, and the same split
gives MVCNN training: trunk per view, max over views, then the head.

Input is one grayscale channel. The stem takes 1 channel (not a gray image copied to RGB): the three
copies would be three times the input traffic for the same result, since a convolution over 3 identical
channels equals one over their summed weights. Pretrained RGB weights are converted that way.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
from torch import nn

from bwot.features.layers import SPATIAL

# gray input normalisation: the means of ImageNet's channel statistics
MEAN, STD = 0.449, 0.226


class FeatureNet(nn.Module):
    """trunk (image -> feature at `layer`) + head (pooled feature -> class logits).

    `embed(x)` gives (N, D) features of (N, 1, S, S) inputs; `forward(x)` takes (B, K, 1, S, S) (K views
    or 1 image) and returns (B, classes) logits after a max over the K trunk outputs (MVCNN view pooling).
    """

    def __init__(self, trunk: nn.Sequential, head: nn.Sequential, spatial: bool) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = head
        self.spatial = spatial

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Features (N, D) of preprocessed images (N, 1, S, S)."""
        out = self.trunk(x.contiguous(memory_format=torch.channels_last))
        return out.mean(dim=(2, 3)) if self.spatial else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, classes) of (B, K, 1, S, S) inputs, max-pooled over K after the trunk."""
        b, k = x.shape[:2]
        out = self.trunk(x.flatten(0, 1).contiguous(memory_format=torch.channels_last))
        pooled = out.view(b, k, *out.shape[1:]).amax(dim=1)
        return self.head(pooled)


def preprocess(images: torch.Tensor, input_size: int) -> torch.Tensor:
    """uint8 images (N, H, W) -> normalised float (N, 1, S, S), resized (bilinear) when H != S."""
    x = images.unsqueeze(1).float().div_(255.0)
    if x.shape[-1] != input_size or x.shape[-2] != input_size:
        x = nn.functional.interpolate(
            x, size=(input_size, input_size), mode="bilinear", align_corners=False, antialias=True
        )
    return x.sub_(MEAN).div_(STD)


def cut_model(model: nn.Module, backbone: str, layer: str, num_classes: int) -> FeatureNet:
    """A FeatureNet of a torchvision-shaped `backbone` model (torchvision's, or bwot.features.arch's): its
    stem made gray, its last linear layer sized to `num_classes`, cut after `layer`."""
    stages = _stages(backbone, model)
    _to_gray_stem(stages[0][1])
    last_name, last = stages[-1]
    stages[-1] = (last_name, nn.Linear(last.in_features, num_classes))
    cut = [name for name, _ in stages].index(layer) + 1
    trunk = nn.Sequential(*(m for _, m in stages[:cut]))
    head = nn.Sequential(*(m for _, m in stages[cut:]))
    return FeatureNet(trunk, head, spatial=layer in SPATIAL)


def _stages(backbone: str, m: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model as named stages, from the image to the logits (last stage: the final nn.Linear)."""
    if backbone.startswith("resnet"):
        return [
            ("stem", nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool)),
            ("layer1", m.layer1),
            ("layer2", m.layer2),
            ("layer3", m.layer3),
            ("layer4", m.layer4),
            ("avgpool", nn.Sequential(m.avgpool, nn.Flatten(1))),
            ("fc", m.fc),
        ]
    c = m.classifier
    pool5 = nn.Sequential(m.features, m.avgpool, nn.Flatten(1))
    if backbone == "alexnet":  # classifier: drop, fc6, relu, drop, fc7, relu, fc8
        return [("pool5", pool5), ("fc6", c[0:3]), ("fc7", c[3:6]), ("fc8", c[6])]
    # vgg: fc6, relu, drop, fc7, relu, drop, fc8
    return [("pool5", pool5), ("fc6", c[0:3]), ("fc7", c[3:6]), ("fc8", c[6])]


def _to_gray_stem(stem: nn.Module) -> None:
    """Replace the first 3-channel convolution of `stem` by a 1-channel one with summed weights."""
    for parent in stem.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Conv2d) and child.in_channels == 3:
                gray = nn.Conv2d(
                    1,
                    child.out_channels,
                    child.kernel_size,
                    child.stride,
                    child.padding,
                    bias=child.bias is not None,
                )
                with torch.no_grad():
                    gray.weight.copy_(child.weight.sum(dim=1, keepdim=True))
                    if child.bias is not None:
                        gray.bias.copy_(child.bias)
                setattr(parent, name, gray)
                return
    raise RuntimeError("no 3-channel convolution found in the backbone's stem")


def autocast(device: torch.device, amp: bool) -> AbstractContextManager:
    """Mixed precision (float16) on a GPU when `amp`; nothing otherwise."""
    return torch.autocast("cuda", dtype=torch.float16) if amp and device.type == "cuda" else nullcontext()


def to_inputs(images: torch.Tensor, size: int, device: torch.device) -> torch.Tensor:
    """uint8 items (B, K, H, W) -> normalised float (B, K, 1, S, S) on `device` (see `preprocess`)."""
    b, k = images.shape[:2]
    x = preprocess(images.to(device, non_blocking=True).flatten(0, 1), size)
    return x.view(b, k, *x.shape[1:])
