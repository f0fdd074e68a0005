"""One render shard: rows [i*n//N, (i+1)*n//N) of models.csv (N = `shards`) -> views HDF5 + skip report."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from bwot.config import RenderConfig
from bwot.datasets import read_manifest
from bwot.io import PathLike, h5_writer, set_attrs, write_strings
from bwot.render.meshes import BadMeshError
from bwot.render.renderer import ViewRenderer
from bwot.render.rigs import resolve_up
from bwot.shards import progress, shard_rows, write_skip_report

log = logging.getLogger(__name__)
COLUMNS = ("id", "label", "path")


class BadMeshesError(ValueError):
    """Raised with every bad mesh of a shard when `on_bad_mesh` is `error`."""


def render_shard(
    models_csv: PathLike,
    shard: int,
    views_h5: PathLike,
    skipped_csv: PathLike,
    cfg: RenderConfig | Mapping[str, Any],
    threads: int | None = None,
) -> pd.DataFrame:
    """Render one shard into `views_h5` (atomically) and write its skip report; return the skip report.

    Bad meshes are all collected first; then, with `on_bad_mesh: error`, one BadMeshesError names each
    file and reason (and nothing is written), or with `skip` they are left out and listed in `skipped_csv`.
    `cfg.up` `auto` means y (PSB/SHREC meshes); the workflow resolves it per dataset (bwot.config.Config.up).
    """
    cfg = RenderConfig.from_mapping(cfg)
    up = resolve_up(cfg.up)
    rows = shard_rows(read_manifest(models_csv), shard, cfg.shards, COLUMNS, models_csv).reset_index(
        drop=True
    )
    bad: list[tuple[str, str, str]] = []
    with ViewRenderer(cfg.size, cfg.rig, up, threads=threads) as renderer, h5_writer(views_h5) as f:
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
        with progress(len(rows) * n_views, f"render shard {shard}", " views") as bar:
            for i, row in rows.iterrows():
                try:
                    views = renderer.render_file(row["path"])
                except BadMeshError as exc:
                    bad.append((row["id"], row["path"], exc.reason))
                    log.warning("bad mesh %s (%s): %s", row["id"], row["path"], exc.reason)
                else:
                    images.resize(len(kept) + 1, axis=0)
                    images[len(kept)] = views
                    kept.append(int(i))
                bar.update(n_views)
        if bad and cfg.on_bad_mesh == "error":
            lines = "\n".join(f"  {mid} ({path}): {reason}" for mid, path, reason in bad)
            message = (
                f"render shard {shard} of {models_csv}: {len(bad)} bad mesh(es) of {len(rows)}:\n{lines}\n"
                "Fix them, or set render.on_bad_mesh: skip to leave them out of the views (listed in the "
                "skip report, still counted and ranked last by the evaluation)."
            )
            log.error(message)
            raise BadMeshesError(message)
        write_strings(f, "ids", rows["id"].iloc[kept])
        f.create_dataset("labels", data=rows["label"].iloc[kept].astype(np.int64).to_numpy())
        set_attrs(f, {"views": n_views, "size": size, "rig": cfg.rig, "up": up})
    elapsed = time.perf_counter() - start
    skipped = write_skip_report(skipped_csv, bad)
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
