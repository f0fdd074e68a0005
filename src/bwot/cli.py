"""The `bwot` console script: each stage of the pipeline, usable without Snakemake.

Subcommands are registered by module path and imported only when used, so `bwot --help` is fast.
A command module defines `add_arguments(parser)` and `run(args) -> int | None`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help): the config and the data, the pipeline's stages, what uses a finished run
DATA: dict[str, tuple[str, str]] = {
    "config": ("bwot.cli_config", "print the whole config of a run (defaults filled in) and check it"),
    "synth": ("bwot.synthetic.cli", "generate the built-in procedural benchmark (its preset's SHREC layout)"),
    "index": ("bwot.datasets.cli", "read a dataset root and write its manifests"),
    "data": ("bwot.datasets.fetch_cli", "rebuild a real dataset (real13-dev) from public git repositories"),
}
STAGES: dict[str, tuple[str, str]] = {
    "render": ("bwot.render.cli", "render meshes to views: a manifest shard to HDF5, or a PNG preview"),
    "sketches": ("bwot.sketches.cli", "sketches to 20 rotations: a manifest shard to HDF5, or a PNG preview"),
    "evaluate": ("bwot.evaluation.cli", "SHREC retrieval metrics of a trained metric model"),
}
RUN_TOOLS: dict[str, tuple[str, str]] = {
    "query": ("bwot.query.cli", "the nearest target models of sketch files in a finished run"),
    "embed": ("bwot.query.embed_cli", "your own sketches or meshes embedded by a finished run's networks"),
    "add": ("bwot.query.add_cli", "add meshes to a finished run's searchable set (no retraining)"),
    "serve": ("bwot.serve.cli", "a local web page: draw a sketch, see its nearest models"),
    "compare": ("bwot.compare.cli", "two runs on the same queries: paired differences, per class, PR curves"),
}
COMMANDS = DATA | STAGES | RUN_TOOLS


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; subcommand arguments are added lazily in `main`."""
    parser = argparse.ArgumentParser(prog="bwot", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        build_parser().parse_args(argv or ["--help"])
        return 2
    name, rest = argv[0], argv[1:]
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"bwot {name}", description=COMMANDS[name][1])
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    from bwot.logs import setup_logging

    setup_logging()
    try:
        return int(module.run(args) or 0)
    except (ValueError, OSError) as err:  # bad input (every message names the file and the problem)
        print(f"bwot {name}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
