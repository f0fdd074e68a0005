"""`bwot synth`: generate the built-in procedural benchmark in its preset's SHREC layout."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from bwot.config import SyntheticConfig, choices, defaults
from bwot.synthetic.writer import generate_dataset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `bwot synth`."""
    parser.add_argument(
        "--out", required=True, type=Path, help="dataset root to write (must not exist or be empty)"
    )
    d = SyntheticConfig()  # the defaults of the `synthetic:` section
    parser.add_argument(
        "--classes", type=int, default=d.classes, help="number of classes (default: the preset's)"
    )
    parser.add_argument(
        "--seed", type=int, default=defaults()["seed"], help="random seed (same seed, same bytes)"
    )
    parser.add_argument(
        "--preset", choices=choices("synthetic", "preset"), default=d.preset, help="benchmark size"
    )
    parser.add_argument(
        "--scale", type=float, default=d.scale, help="fraction of every class's size (default: 1, full size)"
    )
    parser.add_argument(
        "--sketch-size", type=int, default=d.sketch_size, help="sketch width and height in pixels"
    )
    parser.add_argument("--workers", type=int, default=d.workers, help="processes to generate with")
    parser.add_argument("--no-contact-sheet", action="store_true", help="skip contact_sheet.png")
    parser.add_argument("--overwrite", action="store_true", help="remove --out first if it exists")


def run(args: argparse.Namespace) -> int:
    """Generate the benchmark; print where it went."""
    if args.overwrite and args.out.exists():
        shutil.rmtree(args.out)
    summary = generate_dataset(
        args.out,
        seed=args.seed,
        preset=args.preset,
        classes=args.classes,
        scale=args.scale,
        sketch_size=args.sketch_size,
        workers=args.workers,
        contact_sheet=not args.no_contact_sheet,
    )
    models = sum(summary["models"].values())
    print(
        f"{args.out}: {len(summary['classes'])} classes, {models} models, "
        f"{summary['train_sketches']} train + {summary['test_sketches']} test sketches"
    )
    return 0
