"""The report's "The run" says which device each torch stage used, as its outputs recorded it."""

from __future__ import annotations

import h5py
import numpy as np
import torch

from bwot.features import extract_features
from bwot.features.backbones import build_backbone
from bwot.io import h5_writer, set_attrs, write_strings
from bwot.report.provenance import devices_line, read_feature_devices, run_section

COUNTS = {"classes": 3, "models": 6, "train": 9, "test": 6, "query_classes": 3}


def _backbone(modality: str, device: str | None) -> dict:
    summary = {"modality": modality, "backbone": "resnet18", "layer": "avgpool", "weights": "scratch"}
    summary |= {"best_score": 0.5, "best_epoch": 1, "epochs": 2, "classes": 3}
    return summary | ({"device": device} if device else {})


def _features_file(path, device: str | None):
    with h5py.File(path, "w") as f:
        f["features"] = np.zeros((2, 1, 4), dtype=np.float32)
        f.attrs["backbone"] = "resnet18"
        if device is not None:
            f.attrs["device"] = device
    return path


def test_the_run_lists_the_device_of_each_stage(tmp_path):
    """train_backbone per modality (its summary), extract_features per modality (the features file's
    attribute), train_metric per loss (the model's meta in metrics.json)."""
    features = read_feature_devices(
        {
            "shapes": _features_file(tmp_path / "shapes.h5", "cuda"),
            "sketches": _features_file(tmp_path / "sketches.h5", "cuda"),
        }
    )
    assert features == {"shapes": "cuda", "sketches": "cuda"}
    metrics = {
        "ot": {"model": {"steps": 40, "device": "cuda"}},
        "contrastive": {"model": {"steps": 40, "device": "cpu"}},
    }
    section = run_section(
        dataset="builtin",
        data_dir=None,
        counts=COUNTS,
        metrics=metrics,
        backbones=[_backbone("shapes", "cuda"), _backbone("sketches", "cuda:1")],
        feature_devices=features,
    )
    assert (
        "- **Devices**: train_backbone: shapes cuda, sketches cuda:1; extract_features: shapes cuda, "
        "sketches cuda; train_metric: ot cuda, contrastive cpu.\n"
    ) in section


def test_an_output_that_does_not_say_is_not_recorded(tmp_path):
    """Files written before the device was recorded (or no features given) say so, not a guess."""
    old = read_feature_devices({"shapes": _features_file(tmp_path / "shapes.h5", None)})
    assert old == {"shapes": None}
    line = devices_line([_backbone("shapes", None)], old, {"ot": {"steps": 40}})
    assert line == (
        "- **Devices**: train_backbone: shapes not recorded; extract_features: shapes not recorded; "
        "train_metric: ot not recorded."
    )
    assert "extract_features: not recorded;" in devices_line([_backbone("shapes", "cpu")], {}, {})


def test_extraction_records_its_device(tmp_path):
    """extract_features writes the device it computed on as the file's `device` attribute."""
    rng = np.random.default_rng(0)
    shard = tmp_path / "views" / "shard-0.h5"
    shard.parent.mkdir()
    with h5_writer(shard) as f:
        f.create_dataset("images", data=rng.integers(0, 256, (3, 2, 32, 32), dtype=np.uint8))
        write_strings(f, "ids", ["m0", "m1", "m2"])
        f.create_dataset("labels", data=np.arange(3, dtype=np.int64))
        set_attrs(f, {"views": 2, "size": 32, "rig": "test"})
    torch.manual_seed(0)
    model = tmp_path / "shapes.pt"
    state = build_backbone("resnet18", "avgpool", 3).state_dict()
    ckpt = {
        "backbone": "resnet18",
        "layer": "avgpool",
        "input_size": 32,
        "num_classes": 3,
        "state_dict": state,
    }
    torch.save(ckpt, model)
    out = tmp_path / "shapes.h5"
    extract_features(model, [shard], out, "shapes", {"device": "cpu", "workers": 0, "amp": False})
    assert read_feature_devices({"shapes": out}) == {"shapes": "cpu"}
