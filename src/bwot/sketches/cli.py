"""`bwot sketches`: preprocess a manifest shard to HDF5, or sketch files to a PNG preview."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from bwot.config import SketchesConfig, choices
from bwot.shards import add_shard_arguments
from bwot.sketches.pipeline import preprocess_sketch
from bwot.sketches.shard import prepare_shard


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", type=Path, help="sketches.csv (with --split), or sketch files")
    parser.add_argument("--out", type=Path, required=True, help="shard .h5, or preview .png for files")
    parser.add_argument("--split", choices=["train", "test"], help="manifest split (shard mode)")
    add_shard_arguments(parser, "the split", "sketches.shards")
    parser.add_argument("--size", type=int, default=SketchesConfig.size)
    parser.add_argument("--thicken", choices=choices("sketches", "thicken"), default=SketchesConfig.thicken)
    parser.add_argument(
        "--on-bad-sketch", choices=choices("sketches", "on_bad_sketch"), default=SketchesConfig.on_bad_sketch
    )


def run(args: argparse.Namespace) -> int:
    cfg = SketchesConfig(
        size=args.size, shards=args.shards, thicken=args.thicken, on_bad_sketch=args.on_bad_sketch
    )
    if args.split:
        skipped = args.out.with_name(args.out.stem + ".skipped.csv")
        prepare_shard(args.inputs[0], args.out, skipped, split=args.split, shard=args.shard, cfg=cfg)
        return 0
    rows = [np.concatenate(list(preprocess_sketch(path, cfg)), axis=1) for path in args.inputs]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.out)  # one row of rotations per file
    return 0
