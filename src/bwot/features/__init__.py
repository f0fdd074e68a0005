"""CNN backbones per modality: training (MVCNN for shapes, rotations for sketches) and feature extraction.

The names below are imported on first use (PEP 562), so that `bwot.features.layers`, which the config
check reads when the Snakefile is parsed, does not pull in torch.
"""

from __future__ import annotations

from bwot.lazy import lazy_package

__getattr__, __all__ = lazy_package(
    __name__,
    {  # module -> the names it gives this package
        "layers": ("BACKBONES", "LAYERS", "resolve_layer"),
        "net": ("FeatureNet",),
        "backbones": ("build_backbone",),
        "extract": ("extract_features",),
        "inference": ("load_backbone",),
        "train": ("train_backbone",),
    },
)
