"""One shard of one split of the sketches manifest -> the sketch HDF5 of docs/sketches.md + its skip report.

Shard i of split s holds rows [i*n//N, (i+1)*n//N) of the n manifest rows whose split is s, in file order
(N = `shards`; a shard may be empty when a split has fewer sketches than shards). Every bad file is
collected first: with on_bad_sketch=error the shard fails listing all of them (nothing is written), with
skip they are left out and listed in the skip report (id,path,reason).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import h5py
import imagecodecs
import numpy as np
import pandas as pd

from bwot.config import SketchesConfig
from bwot.datasets.manifest import read_manifest
from bwot.io import PathLike, h5_writer, set_attrs, write_strings
from bwot.shards import progress, shard_rows, write_skip_report
from bwot.sketches.errors import SketchError, SketchShardError
from bwot.sketches.pipeline import preprocess_sketch

log = logging.getLogger(__name__)


def split_rows(manifest: pd.DataFrame, split: str, shard: int, shards: int, where: PathLike) -> pd.DataFrame:
    """The manifest rows of shard `shard` of `shards` of `split` (file order; may be empty)."""
    rows = shard_rows(manifest, 0, 1, ["id", "label", "split", "path"], where)
    return shard_rows(rows[rows["split"] == split], shard, shards, [], where)


def prepare_shard(
    manifest_csv: PathLike,
    out_h5: PathLike,
    skipped_csv: PathLike,
    *,
    split: str,
    shard: int,
    cfg: SketchesConfig | Mapping[str, Any],
) -> int:
    """Preprocess one shard and write it atomically; return the number of sketches written."""
    cfg = SketchesConfig.from_mapping(cfg)
    rows = split_rows(read_manifest(manifest_csv), split, shard, cfg.shards, manifest_csv)
    n, size = len(rows), cfg.size
    log.info("%s shard %d: %d sketches from %s -> %s", split, shard, n, manifest_csv, out_h5)
    ids, labels, bad = [], [], []
    with h5_writer(out_h5) as f:
        images = f.create_dataset(
            "images",
            shape=(n, cfg.rotations, size, size),
            maxshape=(None, cfg.rotations, size, size),
            dtype=np.uint8,
            chunks=(1, cfg.rotations, size, size),
            **_compression(cfg.compression),
        )
        with progress(n, f"{split} shard {shard}", " sketches") as bar:
            for row in rows.itertuples(index=False):
                bar.update()
                try:
                    _write_item(images, len(ids), preprocess_sketch(row.path, cfg))
                except SketchError as err:
                    bad.append((row.id, row.path, err.reason))
                    continue
                ids.append(row.id)
                labels.append(row.label)
        if bad and cfg.on_bad_sketch == "error":
            raise SketchShardError(
                f"{len(bad)} bad sketch(es) in {split} shard {shard} of {manifest_csv}"
                " (set sketches.on_bad_sketch: skip to leave them out):",
                [f"{path} (id {sid}): {reason}" for sid, path, reason in bad],
            )
        images.resize(len(ids), axis=0)
        write_strings(f, "ids", ids)
        f.create_dataset("labels", data=np.asarray(labels, dtype=np.int64))
        set_attrs(
            f, {"rotations": cfg.rotations, "step_deg": float(cfg.step_deg), "split": split, "size": size}
        )
    write_skip_report(skipped_csv, bad)
    for sid, path, reason in bad:
        log.warning("skipped sketch %s (%s): %s", sid, path, reason)
    log.info("%s shard %d: wrote %d sketches, skipped %d", split, shard, len(ids), len(bad))
    return len(ids)


def _write_item(images: h5py.Dataset, i: int, item: np.ndarray) -> None:
    """images[i] = item. When the dataset's only filter is deflate and a chunk is one item, the chunk is
    deflated by zlib-ng and written whole: 2-3x faster than HDF5's own filter, the same dataset for every
    reader. Any other layout or filter pipeline goes through h5py."""
    if _deflate_only(images) and images.chunks == (1, *item.shape) and item.dtype == images.dtype:
        chunk = imagecodecs.zlibng_encode(np.ascontiguousarray(item), level=images.compression_opts)
        images.id.write_direct_chunk((i, *(0,) * item.ndim), chunk)
    else:
        images[i] = item


def _deflate_only(images: h5py.Dataset) -> bool:
    plist = images.id.get_create_plist()
    filters = [plist.get_filter(k)[0] for k in range(plist.get_nfilters())]
    return filters == [h5py.h5z.FILTER_DEFLATE]


def _compression(kind: str) -> dict[str, Any]:
    if kind == "gzip":
        return {"compression": "gzip", "compression_opts": 1}  # level 1: 20% faster than 4, as small
    if kind == "lzf":
        return {"compression": "lzf"}
    return {}
