"""`bwot config`: the whole config a workflow run would use, every default filled in, checked.

bwot config                                   # the defaults (src/bwot/config/schema.yaml)
bwot config config/shrec13.yaml               # that file over the defaults (later files override earlier)
bwot config my.yaml --check                   # also the checks the workflow makes before any job
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from bwot.config import Config, ConfigError, read_config_files
from bwot.workflow import preflight


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `bwot config`."""
    parser.add_argument(
        "files", nargs="*", type=Path, help="config files, merged in order (none: the defaults)"
    )
    parser.add_argument("--check", action="store_true", help="also check data_dir, weights, layers, ...")


def run(args: argparse.Namespace) -> int:
    """Print the filled-in config as YAML; exit 1 naming every problem."""
    merged = read_config_files(args.files) if args.files else {"dataset": "builtin"}
    cfg = Config.from_mapping(merged, sources=[str(p) for p in args.files])
    if args.check and (problems := preflight(cfg)):
        raise ConfigError(problems)
    print(yaml.safe_dump(cfg.as_dict(), sort_keys=False), end="")
    return 0
