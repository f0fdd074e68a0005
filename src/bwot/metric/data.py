"""Training data of the metric networks: features read by the contract, sampling as the original."""

from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np

from bwot.evaluation.metrics import per_query_metrics
from bwot.io import PathLike, open_h5, read_rows, read_strings
from bwot.splits import holdout_split


@dataclass
class MetricData:
    """Shape features (pooled) and rotated training sketch features, split into train/val by sketch."""

    shapes: np.ndarray  # (n_shapes, D) float32
    shape_labels: np.ndarray  # (n_shapes,) int64
    sketches: np.ndarray  # (n_train_samples, D): every rotation of every training sketch not held out
    sketch_labels: np.ndarray
    val_sketches: np.ndarray  # (n_val, D): held-out training sketches at rotation 0
    val_labels: np.ndarray


def load_metric_data(
    shapes_h5: PathLike, sketches_h5: PathLike, val_fraction: float, seed: int
) -> MetricData:
    """Read features/shapes.h5 and features/sketches.h5; hold out `val_fraction` of the training sketches.

    Each rotated copy of a training sketch is one training sample; a held-out sketch sends all its
    rotations to validation (used there at rotation 0, the upright query).
    """
    with open_h5(shapes_h5) as f:
        _require(f, shapes_h5, ["pooled", "labels"])
        shapes = np.asarray(f["pooled"][()], dtype=np.float32)
        shape_labels = np.asarray(f["labels"][()], dtype=np.int64)
    with open_h5(sketches_h5) as f:
        _require(f, sketches_h5, ["features", "labels", "splits"])
        feats = f["features"]
        splits = read_strings(f["splits"])
        labels = np.asarray(f["labels"][()], dtype=np.int64)
        train = np.flatnonzero(splits == "train")
        problems = []
        if shapes.ndim != 2 or len(shapes) != len(shape_labels) or len(shapes) == 0:
            problems.append(
                f"{shapes_h5}: 'pooled' must be (n>0, D) with one label per row, got {shapes.shape}"
            )
        if not len(train):
            problems.append(f"{sketches_h5}: no sketch has split 'train'")
        if feats.ndim != 3 or feats.shape[2] != shapes.shape[-1]:
            problems.append(
                f"{sketches_h5}: 'features' must be (n, R, {shapes.shape[-1]}), got (.., {feats.shape[1:]})"
            )
        bad = sorted(set(np.unique(splits)) - {"train", "test"})
        if bad:
            problems.append(f"{sketches_h5}: unknown split values {bad}")
        if problems:
            raise ValueError("; ".join(problems))
        train_labels = labels[train]
        fit, val = holdout_split(train_labels, val_fraction, seed)
        # only the training sketches' rows are read, never the test sketches'
        fit_feats = read_rows(feats, train[fit])
        val_feats = np.ascontiguousarray(read_rows(feats, train[val])[:, 0])
    n_rot = fit_feats.shape[1]
    return MetricData(
        shapes=shapes,
        shape_labels=shape_labels,
        sketches=fit_feats.reshape(-1, fit_feats.shape[2]),
        sketch_labels=np.repeat(train_labels[fit], n_rot),
        val_sketches=val_feats,
        val_labels=train_labels[val],
    )


def _require(f: h5py.File, path: PathLike, names: list[str]) -> None:
    missing = [n for n in names if n not in f]
    if missing:
        raise ValueError(f"{path}: missing datasets {missing}")


def validation_map(distances: np.ndarray, query_labels: np.ndarray, target_labels: np.ndarray) -> float:
    """mAP of held-out sketches by the SHREC definition (bwot.evaluation); a held-out sketch whose class has
    no shape has no AP and is left out of this monitoring number (NaN when none is left)."""
    has_targets = np.isin(query_labels, target_labels)
    if not has_targets.any():
        return float("nan")
    metrics = per_query_metrics(distances[has_targets], query_labels[has_targets], target_labels)
    return metrics.means()["mAP"]
