"""`bwot compare`: run B against run A for one loss: paired differences of every metric with the report's
bootstrap, per class, and both PR curves in one plot.

bwot compare results/abl results/abl/sweep/lamb/3.0 [--loss ot] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bwot.compare.compare import OUTPUTS, RUN_FORMS, compare_runs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", type=Path, metavar="RUN_A", help=f"the reference run ({RUN_FORMS})")
    parser.add_argument(
        "run_b", type=Path, metavar="RUN_B", help="the run compared with it: differences are B − A"
    )
    parser.add_argument(
        "--loss", help="the loss compared (default: ot, or the only loss both runs evaluated)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="folder for compare.md, compare.json and pr_curves.png (default: ./compare-<A>-vs-<B>-<loss>/)",
    )


def run(args: argparse.Namespace) -> int:
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out}: not a folder")
    comparison = compare_runs(args.run_a, args.run_b, loss=args.loss)
    out = args.out or comparison.default_out()
    comparison.write(out)
    print(comparison.markdown())
    print(f"wrote {', '.join(OUTPUTS)} to {out}/")
    return 0
