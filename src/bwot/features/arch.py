"""The five backbones' layers in plain torch.nn, for loading trained weights: torchvision's AlexNet, VGG-11
with batch norm and ResNet-18/34/50 as `torchvision.models.get_model(name, weights=None)` builds them,
module for module (the same names, shapes and forward computations), without importing torchvision.

Why a second copy: `import torchvision` costs ~1.2 s on one core, because torchvision.ops imports
torch._dynamo (and sympy) at import time; that is 40% of the 3 s a `bwot query` may take from start to
answer. Training builds its networks with torchvision (`bwot.features.backbones.build_backbone`: its
initialisation, its ImageNet weights); loading a trained one (`bwot.features.inference.load_backbone`)
builds these layers on the meta device and takes every tensor from the checkpoint, so no initialisation
code is needed here. tests/test_features.py keeps the two equal: the same state_dict keys and shapes,
and the same features bit for bit, for every backbone and feature layer.
"""

from __future__ import annotations

import torch
from torch import nn

RESNETS = {"resnet18": ("basic", (2, 2, 2, 2)), "resnet34": ("basic", (3, 4, 6, 3))}
RESNETS["resnet50"] = ("bottleneck", (3, 4, 6, 3))
VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


def plain_model(backbone: str, num_classes: int = 1000) -> nn.Module:
    """torchvision's `backbone` (one of bwot.features.layers.BACKBONES), its parameters uninitialised in
    meaning (build it on the meta device and load a state_dict with `assign=True`)."""
    if backbone == "alexnet":
        return AlexNet(num_classes)
    if backbone == "vgg11_bn":
        return VGG(VGG11, num_classes)
    if backbone in RESNETS:
        kind, blocks = RESNETS[backbone]
        return ResNet(Bottleneck if kind == "bottleneck" else BasicBlock, blocks, num_classes)
    raise ValueError(f"unknown backbone {backbone!r}")


class AlexNet(nn.Module):
    """torchvision.models.AlexNet."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        relu, pool = (lambda: nn.ReLU(inplace=True)), (lambda: nn.MaxPool2d(kernel_size=3, stride=2))
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), relu(), pool(),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), relu(), pool(),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), relu(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), relu(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), relu(), pool(),
        )  # fmt: skip
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 4096), relu(),
            nn.Dropout(0.5), nn.Linear(4096, 4096), relu(),
            nn.Linear(4096, num_classes),
        )  # fmt: skip


class VGG(nn.Module):
    """torchvision.models.VGG with batch norm (`config`: channels of each 3x3 convolution, "M" a max pool)."""

    def __init__(self, config: tuple[int | str, ...], num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for v in config:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, int(v), 3, padding=1), nn.BatchNorm2d(int(v)), nn.ReLU(True)]
                channels = int(v)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(0.5),
            nn.Linear(4096, num_classes),
        )  # fmt: skip


def conv3x3(inputs: int, outputs: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inputs, outputs, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(inputs: int, outputs: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inputs, outputs, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock."""

    expansion = 1

    def __init__(self, inputs: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv3x3(inputs, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class Bottleneck(nn.Module):
    """torchvision.models.resnet.Bottleneck (the stride on the 3x3 convolution: ResNet v1.5)."""

    expansion = 4

    def __init__(self, inputs: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv1x1(inputs, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class ResNet(nn.Module):
    """torchvision.models.ResNet."""

    def __init__(self, block: type[BasicBlock | Bottleneck], blocks: tuple[int, ...], num_classes: int):
        super().__init__()
        self.inputs = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._layer(block, 64, blocks[0])
        self.layer2 = self._layer(block, 128, blocks[1], stride=2)
        self.layer3 = self._layer(block, 256, blocks[2], stride=2)
        self.layer4 = self._layer(block, 512, blocks[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

    def _layer(
        self, block: type[BasicBlock | Bottleneck], planes: int, n: int, stride: int = 1
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inputs != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inputs, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inputs, planes, stride, downsample)]
        self.inputs = planes * block.expansion
        layers += [block(self.inputs, planes) for _ in range(1, n)]
        return nn.Sequential(*layers)
