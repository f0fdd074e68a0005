"""The trained metric model file (`metric/{loss}/seed-{seed}/model.pt`) and its only reader,
`load_metric_model`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bwot.io import CheckpointError, PathLike, load_torch, save_torch
from bwot.metric.networks import MetricNets
from bwot.tiles import TILE_ROWS, fixed_tiles

FORMAT = "bwot-metric-v1"


def save_metric_model(path: PathLike, nets: MetricNets, meta: dict[str, Any]) -> None:
    """Write the networks (float32, CPU), their architecture and `meta` (loss, step, ...) atomically."""
    state = {k: v.detach().to("cpu", torch.float32).clone() for k, v in nets.state_dict().items()}
    save_torch(path, {"format": FORMAT, "config": dict(nets.config), "state_dict": state, "meta": meta})


class MetricModel:
    """A trained pair of metric networks, for embedding features of either modality.

    Rows go through the networks in tiles of exactly `tile_rows` rows (bwot.tiles): a row's embedding is the
    same, bit for bit, whether it is embedded alone (a query) or with thousands of others (`evaluate`)."""

    def __init__(
        self, nets: MetricNets, meta: dict[str, Any], device: torch.device, tile_rows: int = TILE_ROWS
    ):
        self.nets = nets.to(device).eval()
        self.meta = meta
        self.config = dict(nets.config)
        self.device = device
        self.tile_rows = tile_rows

    def embed_sketches(self, x: np.ndarray) -> np.ndarray:
        """Embed sketch features (n, D) -> (n, out) float32."""
        return self._embed(self.nets.sketch, x, self.config["sketch_dim"], "sketch")

    def embed_shapes(self, x: np.ndarray) -> np.ndarray:
        """Embed shape features (n, D) -> (n, out) float32."""
        return self._embed(self.nets.shape, x, self.config["shape_dim"], "shape")

    @torch.no_grad()
    def _embed(self, net: torch.nn.Module, x: np.ndarray, dim: int, what: str) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != dim:
            raise ValueError(f"{what} features must have shape (n, {dim}), got {x.shape}")
        out = np.empty((len(x), self.config["out_dim"]), dtype=np.float32)
        for start, n, tile in fixed_tiles(np.asarray(x, np.float32), self.tile_rows):
            rows = net(torch.from_numpy(np.ascontiguousarray(tile)).to(self.device))
            out[start : start + n] = rows[:n].float().cpu().numpy()
        return out


def load_metric_model(path: PathLike, device: str | torch.device = "cpu") -> MetricModel:
    """Load `metric/{loss}/seed-{seed}/model.pt` written by the trainer; fails clearly on anything else."""
    path = Path(path)
    blob = load_torch(path, "bwot metric model")
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(path, f"not a bwot metric model (expected format '{FORMAT}')")
    try:
        cfg = blob["config"]
        with torch.device("meta"):  # no random initialisation to overwrite (1.4 s at SHREC14's widths)
            nets = MetricNets(
                cfg["sketch_dim"], cfg["shape_dim"], cfg["sketch_widths"], cfg["shape_widths"], cfg["out_dim"]
            )
        nets.load_state_dict(blob["state_dict"], assign=True)  # the file's tensors, shapes checked
    except (KeyError, TypeError, RuntimeError) as err:
        raise CheckpointError(path, f"a damaged bwot metric model ({type(err).__name__}: {err})") from None
    meta = blob.get("meta", {})
    if not isinstance(meta, dict):
        raise CheckpointError(path, f"a damaged bwot metric model (its meta is a {type(meta).__name__})")
    return MetricModel(nets, meta, torch.device(device))
