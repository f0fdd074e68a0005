"""`bwot data`: rebuild a dataset byte for byte from public git repositories (bwot.datasets.fetch)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bwot.datasets.fetch import DATASETS, GITHUB, build


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `bwot data`."""
    parser.add_argument(
        "name",
        choices=sorted(DATASETS),
        help="the dataset (real13-dev: the real SHREC'13 development set, 1242 files, 148 MB)",
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="dataset root to write (created; a rerun resumes)"
    )
    parser.add_argument(
        "--from",
        dest="sources",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="read a repository from a local clone instead of fetching it: PATH is a clone or bare "
        "repository, or a folder of clones named <name>, <name>.git, <owner>/<name> or <owner>/<name>.git "
        "(repeatable; a clone must hold the pinned commit)",
    )
    parser.add_argument(
        "--no-fetch", action="store_true", help="never fetch: every repository must come from --from"
    )
    parser.add_argument(
        "--remote",
        default=GITHUB,
        metavar="URL",
        help="where to fetch a repository from, {repo} standing for owner/name (default: %(default)s)",
    )
    parser.add_argument("--manifest", type=Path, help=argparse.SUPPRESS)  # tests: another manifest


def run(args: argparse.Namespace) -> int:
    """Build the dataset; print what was done and the command that runs the pipeline on it."""
    shipped = DATASETS[args.name]
    result = build(
        args.out,
        args.manifest or shipped.manifest,
        sources=args.sources,
        remote=args.remote,
        fetch=not args.no_fetch,
    )
    replaced = f", {len(result.replaced)} of them replacing files that differed" if result.replaced else ""
    print(
        f"{args.name}: {result.total} files in {args.out} "
        f"({len(result.written)} written{replaced}, {len(result.present)} already there)"
    )
    print(f"run the pipeline on it (from the repository root):\n  {shipped.pipeline_command(args.out)}")
    return 0
