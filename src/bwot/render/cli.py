"""`bwot render`: render one shard of a models manifest to HDF5, or a contact sheet of some meshes to PNG.

bwot render shard --models models.csv --shard 0 --out views/shard-0.h5 [--size 64 ...]
bwot render preview MESH [MESH ...] --png views.png
bwot render preview --models models.csv --per-class 1 --png views.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bwot.config import RenderConfig, choices
from bwot.render.rigs import resolve_up
from bwot.shards import add_shard_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `bwot render`."""
    sub = parser.add_subparsers(dest="mode", required=True)
    shard = sub.add_parser("shard", help="one shard of a models manifest -> views HDF5 + skip report")
    shard.add_argument("--models", type=Path, required=True, help="models.csv (id,class,label,path)")
    add_shard_arguments(shard, "models.csv", "render.shards")
    shard.add_argument("--out", type=Path, required=True, help="views HDF5 (skip report: <out>.skipped.csv)")
    shard.add_argument(
        "--on-bad-mesh", choices=choices("render", "on_bad_mesh"), default=RenderConfig.on_bad_mesh
    )
    shard.add_argument(
        "--compression", choices=choices("render", "compression"), default=RenderConfig.compression
    )
    preview = sub.add_parser("preview", help="a PNG contact sheet: one row of views per mesh")
    preview.add_argument("meshes", nargs="*", type=Path, help="mesh files")
    preview.add_argument("--models", type=Path, help="take meshes from a models.csv instead")
    preview.add_argument("--per-class", type=int, default=1, help="meshes per class with --models")
    preview.add_argument("--columns", type=int, default=None, help="views per line (default: all)")
    preview.add_argument("--png", type=Path, required=True)
    for p in (shard, preview):
        p.add_argument("--size", type=int, default=RenderConfig.size, help="image size in pixels")
        p.add_argument("--rig", choices=choices("render", "rig"), default=RenderConfig.rig)
        p.add_argument(
            "--up",
            choices=choices("render", "up"),
            default=RenderConfig.up,
            help="the meshes' up axis (auto: y)",
        )


def run(args: argparse.Namespace) -> int:
    """Run the chosen mode."""
    if args.mode == "shard":
        from bwot.render.shard import render_shard

        cfg = RenderConfig(
            rig=args.rig,
            size=args.size,
            shards=args.shards,
            up=args.up,
            compression=args.compression,
            on_bad_mesh=args.on_bad_mesh,
        )
        skipped_csv = args.out.with_name(args.out.stem + ".skipped.csv")
        render_shard(args.models, args.shard, args.out, skipped_csv, cfg)
        return 0
    return _preview(args)


def _preview(args: argparse.Namespace) -> int:
    from bwot.datasets import read_manifest
    from bwot.io import atomic_path
    from bwot.render.preview import contact_sheet
    from bwot.render.renderer import ViewRenderer

    if args.models:
        table = read_manifest(args.models)
        table = table.groupby("class", sort=False).head(args.per_class)
        items = list(zip(table["class"] + " " + table["id"], table["path"], strict=True))
    else:
        items = [(p.stem, str(p)) for p in args.meshes]
    if not items:
        raise SystemExit("bwot render preview: no meshes given (pass files or --models)")
    with ViewRenderer(args.size, args.rig, resolve_up(args.up)) as renderer:
        rows = [(label, renderer.render_file(path)) for label, path in items]
    with atomic_path(args.png) as tmp:
        contact_sheet(rows, args.columns).save(tmp, format="PNG")
    print(f"{args.png}: {len(rows)} meshes x {renderer.views} views")
    return 0
