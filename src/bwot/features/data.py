"""Images of views and sketch shards (HDF5) as torch datasets, read lazily.

h5py file handles cannot cross a fork, so each dataset opens its files on first use in the process that
reads them (each DataLoader worker gets its own handles).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from bwot.io import open_h5, read_strings

SPLITS = ("train", "test")


@dataclass
class ShardIndex:
    """The items of several shards, in shard order: ids, labels, split of each, and where they live."""

    paths: list[Path]
    starts: np.ndarray  # global index of each shard's first item (len(paths) + 1 entries)
    ids: np.ndarray
    labels: np.ndarray
    splits: np.ndarray  # "train"/"test" per sketch, "" for views
    item_shape: tuple[int, int, int]  # (K, H, W)
    attrs: dict[str, Any] = field(default_factory=dict)  # the first shard's attributes

    def __len__(self) -> int:
        return len(self.ids)

    def locate(self, item: int) -> tuple[int, int]:
        """(shard number, row in that shard) of a global item index."""
        shard = int(np.searchsorted(self.starts, item, side="right")) - 1
        return shard, item - int(self.starts[shard])


def index_shards(paths: Sequence[str | os.PathLike[str]], *, sketches: bool = False) -> ShardIndex:
    """Read ids/labels of `paths` and check them against the shard contract (all problems listed)."""
    paths = [Path(p) for p in paths]
    problems, ids, labels, splits, counts, shapes = [], [], [], [], [], {}
    attrs: dict[str, Any] = {}
    for path in paths:
        try:
            with open_h5(path) as f:
                missing = [k for k in ("images", "ids", "labels") if k not in f]
                if missing:
                    problems.append(f"{path}: missing dataset(s) {', '.join(missing)}")
                    continue
                images = f["images"]
                n = images.shape[0]
                if images.ndim != 4 or images.dtype != np.uint8:
                    problems.append(
                        f"{path}: images must be uint8 (n, K, H, W), got {images.dtype} {images.shape}"
                    )
                    continue
                if len(f["ids"]) != n or len(f["labels"]) != n:
                    problems.append(f"{path}: {n} images but {len(f['ids'])} ids, {len(f['labels'])} labels")
                    continue
                split = ""
                if sketches:
                    split = _split_of(path, f.attrs.get("split"))
                    if split not in SPLITS:
                        problems.append(f"{path}: no split (attr 'split' or a train/test parent folder)")
                        continue
                if not attrs:
                    attrs = {k: v for k, v in f.attrs.items()}
                shapes.setdefault(tuple(images.shape[1:]), []).append(path)
                ids.append(read_strings(f["ids"]))
                labels.append(np.asarray(f["labels"][()], dtype=np.int64))
                splits.append(np.full(n, split, dtype=object))
                counts.append(n)
        except OSError as err:  # open_h5 names the file and the reason
            problems.append(str(err))
    if len(shapes) > 1:
        problems.append(
            "shards differ in (K, H, W): "
            + "; ".join(f"{s}: {', '.join(map(str, p))}" for s, p in shapes.items())
        )
    if problems:
        raise ValueError("bad image shards:\n  " + "\n  ".join(problems))
    if not paths:
        raise ValueError("no image shards given")
    return ShardIndex(
        paths=paths,
        starts=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        ids=np.concatenate(ids).astype(str),
        labels=np.concatenate(labels),
        splits=np.concatenate(splits).astype(str),
        item_shape=next(iter(shapes)),
        attrs=attrs,
    )


def _split_of(path: Path, attr: Any) -> str:
    if attr is not None:
        return attr.decode() if isinstance(attr, bytes) else str(attr)
    return path.parent.name


class _Handles:
    """Lazily opened read handles, reopened after a fork (h5py handles are per process)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        self._pid: int | None = None
        self._files: list[h5py.File] = []

    def images(self, shard: int) -> h5py.Dataset:
        if self._pid != os.getpid():
            self._files = [open_h5(p) for p in self.paths]
            self._pid = os.getpid()
        return self._files[shard]["images"]

    def __getstate__(self) -> dict[str, Any]:  # workers reopen their own handles
        return {"paths": self.paths, "_pid": None, "_files": []}


Transform = Callable[[np.ndarray], np.ndarray]  # uint8 (..., H, W) -> uint8, same shape


class ItemDataset(Dataset):
    """Items `items` of a ShardIndex as (planes (k, H, W) uint8, label).

    planes: all K (default), the fixed list `planes`, or `select` planes drawn at random per access
    (torch's RNG, which DataLoader seeds per worker). `transform` is applied to the planes read (e.g. views
    drawn as lines, bwot.features.lines).
    """

    def __init__(
        self,
        index: ShardIndex,
        items: np.ndarray,
        *,
        planes: Sequence[int] | None = None,
        select: int | None = None,
        transform: Transform | None = None,
    ) -> None:
        self.index, self.items = index, np.asarray(items, dtype=np.int64)
        self.planes, self.select, self.transform = planes, select, transform
        self.handles = _Handles(index.paths)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        item = int(self.items[i])
        shard, row = self.index.locate(item)
        k = self.index.item_shape[0]
        if self.select is not None and self.select < k:
            planes = np.sort(torch.randperm(k)[: self.select].numpy())
            images = self.handles.images(shard)[row, planes]
        elif self.planes is not None:
            images = self.handles.images(shard)[row, list(self.planes)]
        else:
            images = self.handles.images(shard)[row]
        if self.transform is not None:
            images = self.transform(images)
        return images, int(self.index.labels[item])


class ChunkDataset(Dataset):
    """Runs of `chunk` consecutive items across shards, in order: (first global item, images).

    Runs span shard boundaries, so every forward pass but the last has the same full batch.
    """

    def __init__(self, index: ShardIndex, chunk: int, transform: Transform | None = None) -> None:
        self.index, self.chunk, self.transform = index, chunk, transform
        self.handles = _Handles(index.paths)

    def __len__(self) -> int:
        return -(-len(self.index) // self.chunk)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray]:
        first, stop = i * self.chunk, min((i + 1) * self.chunk, len(self.index))
        starts = self.index.starts
        parts = []
        for shard in range(len(self.index.paths)):
            a, b = max(first, int(starts[shard])), min(stop, int(starts[shard + 1]))
            if a < b:
                parts.append(self.handles.images(shard)[a - starts[shard] : b - starts[shard]])
        images = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return first, images if self.transform is None else self.transform(images)


def prefetch(iterable: Iterable[Any], depth: int = 2) -> Iterator[Any]:
    """Iterate `iterable` in a background thread, `depth` items ahead (reading overlaps compute)."""
    done = object()
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)

    def fill() -> None:
        try:
            for item in iterable:
                q.put(item)
        except BaseException as err:  # re-raised in the consumer
            q.put(err)
        q.put(done)

    thread = threading.Thread(target=fill, daemon=True)
    thread.start()
    while (item := q.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item
    thread.join()
