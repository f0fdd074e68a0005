"""`bwot embed`: your own sketches or meshes embedded by a finished run's trained networks, to HDF5.

bwot embed --run results/builtin [--loss ot] (--sketches A.png ... | --meshes A.off ...) --out emb.h5
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bwot.losses.registry import LOSSES
from bwot.query.embed import embed_files


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", type=Path, required=True, help="a finished run's folder, results/<name>")
    parser.add_argument(
        "--loss", choices=list(LOSSES), help="whose metric networks (default: ot, or the only one indexed)"
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--sketches", nargs="+", type=Path, metavar="PATH", help="sketch files (PNG, JPEG)")
    what.add_argument(
        "--meshes", nargs="+", type=Path, metavar="PATH", help="mesh files (OFF, OBJ, PLY, ...)"
    )
    parser.add_argument("--names", nargs="+", metavar="ID", help="an id per file (default: the file stems)")
    parser.add_argument("--out", type=Path, required=True, help="the HDF5 file to write (ids, embeddings)")


def run(args: argparse.Namespace) -> int:
    modality, paths = ("sketches", args.sketches) if args.sketches else ("meshes", args.meshes)
    summary = embed_files(args.run, modality, paths, args.out, loss=args.loss, names=args.names)
    print(
        f"{args.out}: {summary['items']} {modality} embedded by {args.run} (loss {summary['loss']}), "
        f"{summary['dim']} dimensions"
    )
    return 0
