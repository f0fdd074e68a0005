"""The features section: extract_features images/s against the bare forward and a per-image loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from common import REPO, SHREC14_IMAGES, Sizes, load_bench


def feature_shards(folder: Path, sizes: Sizes) -> list[Path]:
    """Views shards as the render stage writes them (gzip, one chunk per item of 20 views): drawn
    polygons (bench/features), `distinct_items` drawn items repeated to `feature_items`."""
    from bwot.io import h5_writer, set_attrs, write_strings

    bf = load_bench("features")
    rng = np.random.default_rng(0)
    drawn = np.stack(
        [bf.polygon_images(i % 12, 20, sizes.feature_px, rng, 18.0) for i in range(sizes.distinct_items)]
    )
    per_shard = max(1, sizes.feature_items // 4)
    paths = []
    for s, first in enumerate(range(0, sizes.feature_items, per_shard)):
        n = min(per_shard, sizes.feature_items - first)
        path = folder / f"shard-{s}.h5"
        with h5_writer(path) as f:
            shape = (n, 20, sizes.feature_px, sizes.feature_px)
            images = f.create_dataset(
                "images", shape=shape, dtype=np.uint8, chunks=(1, *shape[1:]), compression="gzip"
            )
            for k in range(n):
                images[k] = drawn[(first + k) % len(drawn)]
            write_strings(f, "ids", [f"m{first + k}" for k in range(n)])
            f.create_dataset("labels", data=(np.arange(first, first + n) % 12).astype(np.int64))
            set_attrs(f, {"views": 20, "size": sizes.feature_px, "rig": "gpu-check"})
        paths.append(path)
    return paths


def feature_speed(device: torch.device, sizes: Sizes, tmp: Path) -> dict[str, Any]:
    """extract_features vs bare forward vs a per-image loop, per backbone (SHREC configs' settings)."""
    from bwot.features import extract_features, load_backbone
    from bwot.features.net import autocast

    bf = load_bench("features")
    shrec = yaml.safe_load((REPO / "config" / "shrec14.yaml").read_text())["features"]
    shards = feature_shards(tmp / "views", sizes)
    n_images = sizes.feature_items * 20
    out: dict[str, Any] = {"images": n_images, "px": sizes.feature_px, "backbones": {}}
    for backbone, layer in (("alexnet", "fc7"), ("resnet18", "avgpool")):
        model = untrained_checkpoint(backbone, layer, sizes.feature_px, tmp / f"{backbone}.pt")
        amp = device.type == "cuda"
        res: dict[str, Any] = {"layer": layer, "amp": amp, "px": sizes.feature_px, "pipeline": {}}
        for workers in sizes.worker_counts:
            workers = shrec.get("workers", 0) if workers is None else workers
            cfg = {"device": str(device), "amp": amp, "workers": workers, "input_size": sizes.feature_px}
            summary = extract_features(model, shards, tmp / f"{backbone}-{workers}.h5", "shapes", cfg)
            res["pipeline"][f"workers={workers}"] = round(summary["images_per_s"], 1)
        net, _ = load_backbone(model, device)
        torch.backends.cudnn.benchmark = device.type == "cuda"
        batch = 256 // 20 * 20  # extract_batch_size's whole items, as extract_features batches
        res["bare_forward"] = round(bf.bare_forward(net, n_images, batch, sizes.feature_px, device, amp), 1)
        with autocast(device, amp):  # the loop as the pipeline computes: AMP on a GPU
            loop = bf.per_image_loop(net, shards[0], sizes.loop_images, sizes.feature_px, device)
        res["per_image_loop"] = round(loop, 1)
        config_workers = f"workers={shrec.get('workers', 0)}" if None in sizes.worker_counts else None
        out["backbones"][backbone] = with_ratios(res, config_workers)
    return out


def untrained_checkpoint(backbone: str, layer: str, px: int, path: Path) -> Path:
    """A backbone checkpoint as train_backbone writes it (load_backbone reads it), untrained, seeded."""
    from bwot.features.backbones import build_backbone

    torch.manual_seed(0)
    net = build_backbone(backbone, layer, 10)
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    blob = {"backbone": backbone, "layer": layer, "input_size": px, "num_classes": 10, "state_dict": state}
    torch.save(blob, path)
    return path


def with_ratios(res: dict[str, Any], config_workers: str | None) -> dict[str, Any]:
    """The pipeline's images/s (with the SHREC configs' workers, else the best) against the bare forward
    and the per-image loop, and SHREC14's extraction time at that rate."""
    pipeline = res["pipeline"].get(config_workers) or max(res["pipeline"].values())
    return res | {
        "pipeline_images_per_s": pipeline,
        "vs_bare": round(pipeline / res["bare_forward"], 3),
        "vs_loop": round(pipeline / res["per_image_loop"], 1),
        "shrec14_seconds": round(SHREC14_IMAGES / pipeline, 1),
    }
