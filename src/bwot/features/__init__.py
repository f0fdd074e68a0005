"""CNN backbones per modality: training (MVCNN for shapes, rotations for sketches) and feature extraction.

The names below are imported on first use (PEP 562), so that `bwot.features.layers`, which the config
check reads when the Snakefile is parsed, does not pull in torch.
"""

from __future__ import annotations

from bwot.lazy import lazy_attributes

_NAMES = {  # name -> module: a table (its rows look alike by nature)
    "BACKBONES": "bwot.features.layers",
    "LAYERS": "bwot.features.layers",
    "resolve_layer": "bwot.features.layers",
    "FeatureNet": "bwot.features.net",
    "build_backbone": "bwot.features.backbones",
    "extract_features": "bwot.features.extract",
    "load_backbone": "bwot.features.inference",
    "train_backbone": "bwot.features.train",
}
__all__ = sorted(_NAMES)
__getattr__ = lazy_attributes(__name__, _NAMES)
