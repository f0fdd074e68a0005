"""`bwot add`: add meshes to a finished run's searchable set (its retrieval index), without retraining.

bwot add --run results/builtin [--loss ot] A.off B.obj ... [--names ID ...] [--class NAME]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bwot.losses.registry import LOSSES
from bwot.query.add import UNLABELLED, add_models


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", type=Path, required=True, help="a finished run's folder, results/<name>")
    parser.add_argument(
        "--loss", choices=list(LOSSES), help="whose retrieval index (default: ot, or the only one indexed)"
    )
    parser.add_argument(
        "meshes", nargs="+", type=Path, metavar="MESH", help="mesh files (OFF, OBJ, PLY, ...)"
    )
    parser.add_argument(
        "--names", nargs="+", metavar="ID", help="a new id per mesh (default: the file stems)"
    )
    parser.add_argument(
        "--class",
        dest="class_name",
        metavar="NAME",
        help=f"their class: one of the index's, or a new one (default: {UNLABELLED})",
    )


def run(args: argparse.Namespace) -> int:
    summary = add_models(args.run, args.meshes, loss=args.loss, names=args.names, class_name=args.class_name)
    print(
        f"{summary['index']}: {summary['added']} models added (class {summary['class']}), "
        f"{summary['targets']} targets now (loss {summary['loss']})"
    )
    return 0
