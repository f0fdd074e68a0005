"""`bwot config`: the whole config a workflow run would use, every default filled in, checked.

bwot config                                   # the defaults (src/bwot/schema.yaml)
bwot config config/shrec13.yaml               # that file over the defaults (later files override earlier)
bwot config my.yaml --check                   # also the checks the workflow makes before any job
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from bwot.config import Config, ConfigError, preflight


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `bwot config`."""
    parser.add_argument(
        "files", nargs="*", type=Path, help="config files, merged in order (none: the defaults)"
    )
    parser.add_argument("--check", action="store_true", help="also check data_dir, weights, layers, ...")


def run(args: argparse.Namespace) -> int:
    """Print the filled-in config as YAML; exit 1 naming every problem."""
    merged: dict = {"dataset": "builtin"} if not args.files else {}
    for path in args.files:
        for key, value in _read(path).items():
            if isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
            else:
                merged[key] = value
    cfg = Config.from_mapping(merged, sources=[str(p) for p in args.files])
    if args.check and (problems := preflight(cfg)):
        raise ConfigError(problems)
    print(yaml.safe_dump(cfg.as_dict(), sort_keys=False), end="")
    return 0


def _read(path: Path) -> dict:
    """A config file's mapping; ConfigError naming the file when it is not YAML or not a mapping."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        reason = " ".join(str(err).split())
        raise ConfigError([f"{path}: not a readable YAML file ({reason})"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: a config file holds a mapping of keys, not a {type(data).__name__}"])
    return data
