"""Metric learning: the two metric networks, their trainer and the model file.

`load_metric_model(path, device)` is the only way other stages read `metric/{loss}/seed-{seed}/model.pt`.
The names below are imported on first use (PEP 562): a query loads a model without the trainer's imports.
"""

from __future__ import annotations

from bwot.lazy import lazy_attributes

_NAMES = {  # name -> module: a table (its rows look alike by nature)
    "MetricModel": "bwot.metric.model",
    "load_metric_model": "bwot.metric.model",
    "save_metric_model": "bwot.metric.model",
    "MetricNets": "bwot.metric.networks",
    "metric_network": "bwot.metric.networks",
    "train_metric": "bwot.metric.trainer",
}
__all__ = sorted(_NAMES)
__getattr__ = lazy_attributes(__name__, _NAMES)
