"""The metric networks of the original: one fully connected network per modality.

Sketch: D -> 2000 -> 1000 -> 500 -> out, ReLU after the first two layers; shape: D -> 2000 -> 2000 -> 1000
-> 500 -> out, ReLU after the first three. In general: ReLU after every hidden layer but the last one, so the
last two layers are linear, as in the original TensorFlow code (shrec14/mixed/model.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# The original's initialisation: tf.truncated_normal_initializer(stddev) (truncated at 2 stddev) for the
# weights, zero biases; stddev 0.01 for the layers followed by a ReLU, 0.1 for the two linear layers at the
# end.
RELU_STD = 0.01
LINEAR_STD = 0.1


def metric_network(in_dim: int, widths: Sequence[int], out_dim: int) -> nn.Sequential:
    """A metric network: Linear layers in_dim -> widths... -> out_dim, ReLU after all but the last two."""
    dims = [in_dim, *widths, out_dim]
    n_layers = len(dims) - 1
    layers: list[nn.Module] = []
    for i in range(n_layers):
        linear = nn.Linear(dims[i], dims[i + 1])
        relu = i < n_layers - 2
        init_linear(linear, RELU_STD if relu else LINEAR_STD)
        layers.append(linear)
        if relu:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def init_linear(layer: nn.Linear, std: float) -> None:
    """TF's truncated normal (re-drawn beyond 2 std) for the weight, zeros for the bias."""
    with torch.no_grad():
        nn.init.trunc_normal_(layer.weight, mean=0.0, std=std, a=-2 * std, b=2 * std)
        nn.init.zeros_(layer.bias)


class MetricNets(nn.Module):
    """The two metric networks, `sketch` and `shape`, mapping CNN features to a common `out_dim` space."""

    def __init__(
        self,
        sketch_dim: int,
        shape_dim: int,
        sketch_widths: Sequence[int] = (2000, 1000, 500),
        shape_widths: Sequence[int] = (2000, 2000, 1000, 500),
        out_dim: int = 100,
    ) -> None:
        super().__init__()
        self.config = {
            "sketch_dim": int(sketch_dim),
            "shape_dim": int(shape_dim),
            "sketch_widths": [int(w) for w in sketch_widths],
            "shape_widths": [int(w) for w in shape_widths],
            "out_dim": int(out_dim),
        }
        self.sketch = metric_network(sketch_dim, sketch_widths, out_dim)
        self.shape = metric_network(shape_dim, shape_widths, out_dim)
