"""Package attributes imported on first use (PEP 562), so that light modules of a package (the config
check reads bwot.losses.registry and bwot.features.layers when the Snakefile is parsed) do not pull in
torch through the package's __init__."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_package(
    package: str, modules: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], Any], list[str]]:
    """A module `__getattr__` that imports each name of `modules[m]` from `package.m` when it is first asked
    for, and the sorted names (the package's `__all__`)."""
    where = {name: f"{package}.{module}" for module, names in modules.items() for name in names}

    def __getattr__(attr: str) -> Any:
        if attr not in where:
            raise AttributeError(f"module {package!r} has no attribute {attr!r}")
        return getattr(importlib.import_module(where[attr]), attr)

    return __getattr__, sorted(where)
