"""Package attributes imported on first use (PEP 562), so that light modules of a package (the config
check reads bwot.losses.registry and bwot.features.layers when the Snakefile is parsed) do not pull in
torch through the package's __init__."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports `names[attr]` (a module path) when `attr` is first asked for."""

    def __getattr__(attr: str) -> Any:
        if attr not in names:
            raise AttributeError(f"module {package!r} has no attribute {attr!r}")
        return getattr(importlib.import_module(names[attr]), attr)

    return __getattr__
