"""Config files, read within bounds: a regular file of at most MAX_CONFIG_BYTES whose YAML, aliases
expanded, has at most MAX_CONFIG_NODES nodes. Every config file the project reads is read here."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import yaml

from bwot.config.errors import QUOTE_CHARS, ConfigError, clip, kind_of
from bwot.files import not_regular

# bounds of a config file: far above any real config (a few KB, a few hundred nodes), far below harm
MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_NODES = 10_000


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A config file's mapping ({} when empty); ConfigError naming the file when it is not a regular file,
    is larger than MAX_CONFIG_BYTES, is not UTF-8 YAML, expands (aliases counted) to more than
    MAX_CONFIG_NODES nodes or MAX_CONFIG_BYTES of text, refers to itself, or is not a mapping.

    Every config file is read here: nothing blocks (a FIFO is refused before it is opened) and nothing
    grows past the bounds (a YAML alias bomb is refused before it is expanded)."""
    name = os.fspath(path)

    def refuse(problem: str) -> ConfigError:
        return ConfigError([f"{name}: {problem}"])

    try:
        # stat does not open: a FIFO or a device is refused without a read
        if kind := not_regular(os.stat(name).st_mode):
            raise refuse(f"not a regular file ({kind}): write the config to a file")
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as f:
            if kind := not_regular(os.fstat(f.fileno()).st_mode):  # replaced since the stat
                raise refuse(f"not a regular file ({kind}): write the config to a file")
            data = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise refuse("no such file") from None
    except OSError as err:
        raise refuse(f"cannot be read ({err.strerror or err})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise refuse(f"larger than {MAX_CONFIG_BYTES} bytes: not a config file (a config is a few KB)")
    loader = None
    try:
        loader = yaml.SafeLoader(data.decode("utf-8"))
        loader.name = name  # YAML's messages name the file
        node = loader.get_single_node()
        if node is None:
            return {}
        nodes, chars = _expanded_size(node, {}, set())
        if nodes > MAX_CONFIG_NODES or chars > MAX_CONFIG_BYTES:
            raise refuse(
                f"its YAML expands to {nodes} nodes and {chars} characters (more than {MAX_CONFIG_NODES} "
                f"nodes or {MAX_CONFIG_BYTES} characters): it looks like an alias bomb (anchors & "
                "and aliases * nested to repeat a value exponentially)"
            )
        content = loader.construct_document(node)
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise refuse(f"not a readable YAML file ({clip(' '.join(str(err).split()), 300)})") from None
    except RecursionError:
        raise refuse("not a readable YAML file (nested too deeply)") from None
    finally:
        if loader is not None:
            loader.dispose()
    if not isinstance(content, dict):
        raise refuse(f"a config file holds a mapping of keys, not a {type(content).__name__}")
    return content


def read_config_files(paths: Iterable[str | os.PathLike[str]]) -> dict[str, Any]:
    """Config files merged in order (read_config_file each): a later file's keys win, section by section,
    as Snakemake merges its --configfile files. ConfigError when a file gives a section keys that an
    earlier file set to a single value."""
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for path in paths:
        for key, value in read_config_file(path).items():
            if isinstance(value, dict) and key in merged and not isinstance(merged[key], dict):
                raise ConfigError([
                    f"'{clip(str(key), QUOTE_CHARS)}' in {origin[key]} is {kind_of(merged[key])}, not a "
                    f"mapping of keys (as {os.fspath(path)} gives it)"
                ])  # fmt: skip
            both = isinstance(value, dict) and isinstance(merged.get(key), dict)
            merged[key] = {**merged[key], **value} if both else value
            origin[key] = os.fspath(path)
    return merged


def _expanded_size(node: yaml.Node, memo: dict[int, tuple[int, int]], open_: set[int]) -> tuple[int, int]:
    """Nodes and scalar characters of `node` with every alias expanded, each shared node counted once
    (memo): linear in the file, however large the expansion. ConstructorError for a node inside itself."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in open_:
        raise yaml.constructor.ConstructorError(
            None,
            None,
            "an alias refers to the node that contains it (a recursive structure)",
            node.start_mark,
        )
    if isinstance(node, yaml.ScalarNode):
        size = (1, len(node.value))
    else:
        open_.add(key)
        children = node.value if isinstance(node, yaml.SequenceNode) else [n for kv in node.value for n in kv]
        parts = [_expanded_size(child, memo, open_) for child in children]
        open_.discard(key)
        size = (1 + sum(n for n, _ in parts), sum(c for _, c in parts))
    memo[key] = size
    return size
