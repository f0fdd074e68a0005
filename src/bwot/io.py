"""Atomic file writing and the HDF5 helpers every stage shares.

Every output of the pipeline is written under a temporary name in the destination folder and renamed
into place only when complete, so a killed job never leaves a file that looks finished.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

PathLike = str | os.PathLike[str]


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it to `path` when the block succeeds.

    On an exception the temporary file (or folder) is removed and `path` is left untouched.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: Path) -> None:
    if path.is_dir():
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def write_text(path: PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: PathLike, obj: Any) -> None:
    """Write JSON atomically (indented, keys in insertion order)."""
    write_text(path, json.dumps(obj, indent=2) + "\n")


def write_csv(path: PathLike, frame: Any) -> None:
    """Write a pandas DataFrame as CSV atomically, without its index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def save_torch(path: PathLike, obj: Any) -> None:
    """`torch.save` atomically."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


@contextmanager
def h5_writer(path: PathLike) -> Iterator[h5py.File]:
    """Open an HDF5 file for writing under a temporary name; rename into place on success."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        yield f


def write_strings(group: h5py.Group, name: str, values: Any) -> None:
    """Store a sequence of str as a variable-length UTF-8 string dataset."""
    group.create_dataset(name, data=np.asarray(list(values), dtype=object), dtype=h5py.string_dtype())


def read_strings(dataset: h5py.Dataset) -> np.ndarray:
    """Read a string dataset back as a numpy array of str."""
    return dataset.asstr()[()] if len(dataset) else np.array([], dtype=str)


def read_attrs(path: PathLike) -> dict[str, Any]:
    """The root attributes of an HDF5 file as a plain dict."""
    with h5py.File(path, "r") as f:
        return {k: _plain(v) for k, v in f.attrs.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    return value


def set_attrs(obj: h5py.HLObject, attrs: Mapping[str, Any]) -> None:
    """Set several HDF5 attributes at once."""
    for key, value in attrs.items():
        obj.attrs[key] = value
