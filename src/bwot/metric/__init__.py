"""Metric learning: the two metric networks, their trainer and the model file.

`load_metric_model(path, device)` is the only way other stages read `metric/{loss}/seed-{seed}/model.pt`.
"""

from bwot.metric.model import MetricModel, load_metric_model, save_metric_model
from bwot.metric.networks import MetricNets, metric_network
from bwot.metric.trainer import train_metric

__all__ = [
    "MetricModel",
    "MetricNets",
    "load_metric_model",
    "metric_network",
    "save_metric_model",
    "train_metric",
]
