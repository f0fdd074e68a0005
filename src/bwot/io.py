"""Atomic file writing and the HDF5 helpers every stage shares.

Every output of the pipeline is written under a temporary name in the destination folder and renamed
into place only when complete, so a killed job never leaves a file that looks finished.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

PathLike = str | os.PathLike[str]
log = logging.getLogger(__name__)


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


def json_text(obj: Any) -> str:
    """Strict JSON, indented, keys in insertion order: a NaN or infinite float is written as null (Python
    would write NaN, which other JSON readers refuse)."""
    return json.dumps(_finite(obj), indent=2, allow_nan=False)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def write_json(path: PathLike, obj: Any) -> None:
    """Write strict JSON (json_text) atomically."""
    write_text(path, json_text(obj) + "\n")


def write_csv(path: PathLike, frame: Any) -> None:
    """Write a pandas DataFrame as CSV atomically, without its index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def save_torch(path: PathLike, obj: Any) -> None:
    """`torch.save` atomically."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


class CheckpointError(ValueError):
    """A torch file that cannot be used: unsafe (it holds Python objects beyond tensors and plain values),
    corrupt, or not what was expected; `path` names it and `reason` says why."""

    def __init__(self, path: PathLike, reason: str) -> None:
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")


def load_torch(path: PathLike, what: str, map_location: Any = "cpu") -> Any:
    """`torch.load(path, weights_only=True)`: tensors and plain values only, never arbitrary objects.

    Anything else is a CheckpointError naming the file, what it should have been (`what`, e.g. "bwot
    metric model") and why; it never suggests turning the check off: a pickle that would build other
    objects (which could run code), a zip whose entries would inflate far beyond the file (a zip bomb:
    refused from the zip directory alone, before anything is decompressed), a truncated, corrupt or
    foreign file.
    """
    import pickle
    import warnings

    import torch

    if not Path(path).is_file():
        raise CheckpointError(path, f"no such file (expected a {what})")
    check_zip_sizes(path, what)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pickle protocol notes of the unpickler
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = _unpickler_detail(exc)
        if "global" not in detail.lower():  # garbage the unpickler stopped at, not a refused object
            raise CheckpointError(
                path, f"not a {what}: unreadable or corrupt (not a torch file: {detail})"
            ) from None
        raise CheckpointError(
            path,
            f"refused: not a {what} but a pickle of Python objects other than tensors and plain values, "
            f"which could run code when loaded; bwot loads only safe files ({detail})",
        ) from None
    except Exception as exc:  # a zip torch cannot read, garbage, a truncated file, ...
        raise CheckpointError(
            path, f"not a {what}: unreadable or corrupt ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None


ZIP_SLACK = 1 << 20  # bytes a torch zip's entries may declare beyond twice the file's size
ZIP_MAX_RATIO = 20  # the largest inflation ratio of one compressed entry (torch stores entries as is)


def check_zip_sizes(path: PathLike, what: str) -> None:
    """A CheckpointError when `path` is a zip (torch's file format) whose entries declare far more than the
    file holds: torch.save stores entries uncompressed, so their total is about the file's size; a zip
    bomb declares gigabytes in a few megabytes. Reads the zip directory only, never decompresses."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(path, f"not a {what}: unreadable or corrupt zip ({exc})") from None
    size = os.path.getsize(path)
    declared = sum(entry.file_size for entry in entries)
    inflating = [
        entry.filename
        for entry in entries
        if entry.compress_type != zipfile.ZIP_STORED
        and entry.file_size > ZIP_MAX_RATIO * max(1, entry.compress_size)
    ]
    if declared > 2 * size + ZIP_SLACK or inflating:
        named = f", compressed entries such as {inflating[0]}" if inflating else ""
        raise CheckpointError(
            path,
            f"refused: not a {what} but a zip bomb: its entries declare {declared} bytes uncompressed in a "
            f"file of {size} bytes{named} (torch files store their entries uncompressed)",
        )


def _unpickler_detail(exc: BaseException) -> str:
    """The unpickler's own reason (e.g. 'Unsupported global: GLOBAL posix.system'), without torch's advice."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].split("Check the documentation", 1)[0]
    lines = [line.strip() for line in text.splitlines() if line.strip() and "weights_only" not in line]
    return " ".join(lines)[:200] or type(exc).__name__


def set_aside(path: PathLike, into: PathLike | None = None) -> Path:
    """Move a file that cannot be used to `<name>.unusable-<n>` in folder `into` (default: beside it), kept
    for inspection; return where it went."""
    path = Path(path)
    folder = path.parent if into is None else Path(into)
    n = 1
    while (target := folder / f"{path.name}.unusable-{n}").exists():
        n += 1
    os.replace(path, target)
    return target


@contextmanager
def locked_folder(folder: PathLike, waiting: str = "") -> Iterator[None]:
    """Hold an exclusive lock on `folder` inside the block (`flock` on the folder itself: no lock file is
    left behind), waiting for whoever holds it; `waiting` is logged when it has to wait."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("%s: %s", folder, waiting or "locked by another process: waiting")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def open_h5(path: PathLike, mode: str = "r") -> h5py.File:
    """h5py.File, with any failure to open it an OSError that names the file and the reason."""
    try:
        return h5py.File(path, mode)
    except OSError as exc:
        text = str(exc)  # 'Unable to ... (truncated file: eof = 3000, ...)': the part in brackets says why
        reason = text[text.find("(") + 1 : text.rfind(")")].split(",")[0] if "(" in text else text
        if not Path(path).exists():
            reason = "no such file"
        raise OSError(f"{path}: not a readable HDF5 file ({reason or type(exc).__name__})") from None


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


def read_rows(dataset: h5py.Dataset, rows: np.ndarray, block: int = 1024) -> np.ndarray:
    """`dataset[rows]` as float32 for rows in any order (repeats allowed), read `block` rows of the file
    at a time: only the rows asked for are held, not the whole dataset (h5py's own fancy indexing wants
    increasing, unique indices)."""
    rows = np.asarray(rows, dtype=np.int64)
    n = len(dataset)
    if len(rows) and (rows.min() < 0 or rows.max() >= n):
        raise IndexError(f"{dataset.file.filename}:{dataset.name}: rows outside 0..{n - 1}")
    out = np.empty((len(rows), *dataset.shape[1:]), dtype=np.float32)
    order = np.argsort(rows, kind="stable")
    wanted = rows[order]
    for start in np.unique(wanted // block) * block:  # only the blocks that hold a wanted row
        lo, hi = np.searchsorted(wanted, [start, start + block])
        chunk = dataset[start : min(start + block, n)]
        out[order[lo:hi]] = chunk[wanted[lo:hi] - start]
    return out


def read_attrs(path: PathLike) -> dict[str, Any]:
    """The root attributes of an HDF5 file as a plain dict."""
    with open_h5(path) as f:
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


def read_shard_images(
    shards: Sequence[PathLike],
    ids: Sequence[str],
    index: int,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """images[row, index] of the rows whose id is in `ids`, across shards (each passed through `transform`
    as it is read, when given); error naming ids not found."""
    wanted = set(ids)
    found: dict[str, np.ndarray] = {}
    for shard in shards:
        with open_h5(shard) as f:
            shard_ids = read_strings(f["ids"])
            rows = [i for i, s in enumerate(shard_ids) if s in wanted and s not in found]
            if rows and index >= f["images"].shape[1]:
                raise ValueError(f"{shard}: image index {index} but only {f['images'].shape[1]} per item")
            for i in rows:
                image = f["images"][i, index]
                found[shard_ids[i]] = image if transform is None else transform(image)
    missing = sorted(wanted - set(found))
    if missing:
        raise ValueError(
            f"ids not found in {len(shards)} shards ({shards[0] if shards else '-'} ...): {missing}"
        )
    return found
