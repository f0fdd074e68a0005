"""One render shard: rows [i*n//N, (i+1)*n//N) of models.csv (N = `shards`) -> views HDF5 + skip report."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from bwot.datasets import read_manifest
from bwot.io import h5_writer, set_attrs, write_csv, write_strings
from bwot.render.meshes import BadMeshError
from bwot.render.renderer import ViewRenderer
from bwot.splits import shard_bounds

log = logging.getLogger(__name__)
COLUMNS = ("id", "label", "path")
SKIP_COLUMNS = ["id", "path", "reason"]


@dataclass(frozen=True)
class RenderConfig:
    """The `render:` section of the config (defaults as in config/schema.yaml)."""

    rig: str = "dodecahedron20"
    size: int = 64
    shards: int = 4
    up: str = "y"
    compression: str = "gzip"
    on_bad_mesh: str = "error"

    @classmethod
    def from_dict(cls, cfg: dict) -> RenderConfig:
        """Build from the config section (an unknown key is an error)."""
        return cls(**cfg)


class BadMeshesError(ValueError):
    """Raised with every bad mesh of a shard when `on_bad_mesh` is `error`."""


def shard_rows(models_csv: str | Path, shard: int, shards: int) -> pd.DataFrame:
    """Rows of shard `shard` of `shards` of the models manifest (file order; may be empty)."""
    table = read_manifest(models_csv)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{models_csv}: missing column(s) {missing} (has {list(table.columns)})")
    start, stop = shard_bounds(len(table), shard, shards)
    return table.iloc[start:stop].reset_index(drop=True)


def render_shard(
    models_csv: str | Path,
    shard: int,
    views_h5: str | Path,
    skipped_csv: str | Path,
    cfg: RenderConfig,
    threads: int | None = None,
) -> pd.DataFrame:
    """Render one shard into `views_h5` (atomically) and write its skip report; return the skip report.

    Bad meshes are all collected first; then, with `on_bad_mesh: error`, one BadMeshesError names each
    file and reason (and nothing is written), or with `skip` they are left out and listed in `skipped_csv`.
    """
    rows = shard_rows(models_csv, shard, cfg.shards)
    bad: list[dict[str, str]] = []
    with ViewRenderer(cfg.size, cfg.rig, cfg.up, threads=threads) as renderer, h5_writer(views_h5) as f:
        n_views, size = renderer.views, cfg.size
        images = f.create_dataset(
            "images",
            shape=(0, n_views, size, size),
            maxshape=(None, n_views, size, size),
            dtype=np.uint8,
            chunks=(1, n_views, size, size),
            compression=cfg.compression,
        )
        kept: list[int] = []
        start = time.perf_counter()
        bar = tqdm(
            total=len(rows) * n_views,
            unit=" views",
            desc=f"render shard {shard}",
            mininterval=1.0,
            ascii=True,
        )
        with bar:
            for i, row in rows.iterrows():
                try:
                    views = renderer.render_file(row["path"])
                except BadMeshError as exc:
                    bad.append({"id": row["id"], "path": row["path"], "reason": exc.reason})
                    log.warning("bad mesh %s (%s): %s", row["id"], row["path"], exc.reason)
                else:
                    images.resize(len(kept) + 1, axis=0)
                    images[len(kept)] = views
                    kept.append(int(i))
                bar.update(n_views)
        if bad and cfg.on_bad_mesh == "error":
            lines = "\n".join(f"  {b['id']} ({b['path']}): {b['reason']}" for b in bad)
            message = (
                f"render shard {shard} of {models_csv}: {len(bad)} bad mesh(es) of {len(rows)}:\n{lines}\n"
                "Fix them, or set render.on_bad_mesh: skip to leave them out (listed in the skip report)."
            )
            log.error(message)
            raise BadMeshesError(message)
        write_strings(f, "ids", rows["id"].iloc[kept])
        f.create_dataset("labels", data=rows["label"].iloc[kept].astype(np.int64).to_numpy())
        set_attrs(f, {"views": n_views, "size": size, "rig": cfg.rig, "up": cfg.up})
    elapsed = time.perf_counter() - start
    skipped = pd.DataFrame(bad, columns=SKIP_COLUMNS)
    write_csv(skipped_csv, skipped)
    log.info(
        "shard %d: %d meshes rendered, %d skipped, %d views in %.1f s (%.1f views/s)",
        shard,
        len(kept),
        len(bad),
        len(kept) * n_views,
        elapsed,
        len(rows) * n_views / max(elapsed, 1e-9),
    )
    return skipped
