"""`bwot index`: validate a dataset root and write its manifests."""

from __future__ import annotations

import argparse
from pathlib import Path

from bwot.datasets.manifest import KINDS, write_manifests


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=KINDS, help="dataset layout")
    parser.add_argument("root", type=Path, help="dataset root folder")
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for models.csv, sketches.csv, classes.txt"
    )


def run(args: argparse.Namespace) -> int:
    write_manifests(
        args.kind, args.root, args.out / "models.csv", args.out / "sketches.csv", args.out / "classes.txt"
    )
    return 0
