"""Read any supported dataset and write its manifests (models.csv, sketches.csv, classes.txt)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from bwot.datasets.errors import DatasetError
from bwot.datasets.layouts import SHREC13, SHREC14, Dataset, read_folder, read_shrec
from bwot.io import write_csv, write_text

log = logging.getLogger(__name__)
KINDS = ("builtin", "shrec13", "shrec14", "folder")


def read_dataset(kind: str, root: str | Path) -> Dataset:
    """Read and validate a dataset root; `builtin` is the generated benchmark, in the SHREC layout its
    builtin.json names (SHREC13 when it names none)."""
    if kind == "builtin":
        dataset = read_shrec(root, SHREC14 if builtin_layout(root) == "shrec14" else SHREC13)
        dataset.name = kind
        return dataset
    if kind == "shrec13":
        return read_shrec(root, SHREC13)
    if kind == "shrec14":
        return read_shrec(root, SHREC14)
    if kind == "folder":
        return read_folder(root)
    raise DatasetError(f"unknown dataset kind {kind!r} (expected one of {', '.join(KINDS)})")


def builtin_layout(root: str | Path) -> str:
    """The layout a generated benchmark was written in: its builtin.json's `layout` (shrec13 by default)."""
    path = Path(root) / "builtin.json"
    try:
        layout = json.loads(path.read_text()).get("layout", "shrec13") if path.is_file() else "shrec13"
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: unreadable ({err})") from err
    if layout not in ("shrec13", "shrec14"):
        raise DatasetError(f"{path}: unknown layout {layout!r} (expected shrec13 or shrec14)")
    return layout


def manifest_tables(dataset: Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The models and sketches tables: id, class, label (index in dataset.classes), path (+ split)."""
    label = {name: i for i, name in enumerate(dataset.classes)}
    models = pd.DataFrame(
        [(m.id, m.cls, label[m.cls], str(m.path)) for m in dataset.models],
        columns=["id", "class", "label", "path"],
    )
    sketches = pd.DataFrame(
        [(s.id, s.cls, label[s.cls], s.split, str(s.path)) for s in dataset.sketches],
        columns=["id", "class", "label", "split", "path"],
    )
    return models, sketches


def write_manifests(
    kind: str, root: str | Path, models_csv: str | Path, sketches_csv: str | Path, classes_txt: str | Path
) -> Dataset:
    """Validate the dataset at `root`, then write the three manifests atomically."""
    dataset = read_dataset(kind, root)
    models, sketches = manifest_tables(dataset)
    write_csv(models_csv, models)
    write_csv(sketches_csv, sketches)
    write_text(classes_txt, "".join(f"{name}\n" for name in dataset.classes))
    counts = sketches["split"].value_counts().to_dict()
    log.info(
        "%s at %s: %d classes, %d models, %d train + %d test sketches",
        kind,
        root,
        len(dataset.classes),
        len(models),
        counts.get("train", 0),
        counts.get("test", 0),
    )
    return dataset


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest CSV keeping ids as strings ('000003' stays '000003') and labels as int."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "label" in table:
        table["label"] = table["label"].astype("int64")
    return table
