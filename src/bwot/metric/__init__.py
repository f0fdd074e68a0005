"""Metric learning: the two metric networks, their trainer and the model file.

`load_metric_model(path, device)` is the only way other stages read `metric/{loss}/seed-{seed}/model.pt`.
The names below are imported on first use (PEP 562): a query loads a model without the trainer's imports.
"""

from __future__ import annotations

from bwot.lazy import lazy_package

__getattr__, __all__ = lazy_package(
    __name__,
    {  # module -> the names it gives this package
        "model": ("MetricModel", "load_metric_model", "save_metric_model"),
        "networks": ("MetricNets", "metric_network"),
        "trainer": ("train_metric",),
    },
)
