"""CNN backbones per modality: training (MVCNN for shapes, rotations for sketches) and feature extraction."""

from bwot.features.backbones import BACKBONES, LAYERS, FeatureNet, build_backbone, resolve_layer
from bwot.features.extract import extract_features, load_backbone
from bwot.features.train import train_backbone

__all__ = [
    "BACKBONES",
    "LAYERS",
    "FeatureNet",
    "build_backbone",
    "extract_features",
    "load_backbone",
    "resolve_layer",
    "train_backbone",
]
