"""The floors of bwot (docs/architecture.md): a module imports its own package and lower floors only.

Read from the source (ast), so a new import that points up, sideways into another stage on the same
floor, or into a function is caught here, with the file, the line and the rule it breaks.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first. A unit is a package or module named here; a module belongs to the longest unit that
# prefixes its name. Units of one floor do not import each other, except on the foundation floor.
FLOORS: list[tuple[str, tuple[str, ...]]] = [
    (
        "foundation",
        (
            "bwot",
            "bwot.files",
            "bwot.io",
            "bwot.lazy",
            "bwot.logs",
            "bwot.device",
            "bwot.splits",
            "bwot.optim",
            "bwot.shards",
            "bwot.tiles",
            "bwot.losses.registry",  # a table of names, read by the config: no torch, no stage
        ),
    ),
    ("config", ("bwot.config",)),
    ("data and losses", ("bwot.datasets", "bwot.losses")),
    ("images", ("bwot.render", "bwot.sketches", "bwot.synthetic")),  # synthetic writes datasets' layouts
    ("features and evaluation", ("bwot.features", "bwot.evaluation")),
    ("metric", ("bwot.metric",)),
    ("report", ("bwot.report",)),
    ("query", ("bwot.query", "bwot.compare")),
    ("serve", ("bwot.serve",)),
    ("entry points", ("bwot.workflow", "bwot.cli", "bwot.cli_config")),
]
ENTRY_FLOOR = len(FLOORS) - 1  # every stage's `cli` module is an entry point too
# Imports inside functions: only the command-line entry points, whose --help must not wait for torch or
# pyrender, and only these modules.
LAZY_IMPORTS = {
    "bwot.cli": {"bwot.logs"},
    "bwot.render.cli": {
        "bwot.datasets",
        "bwot.io",
        "bwot.render.preview",
        "bwot.render.renderer",
        "bwot.render.shard",
    },
    "bwot.serve.cli": {"bwot.query.retriever", "bwot.serve.app", "bwot.serve.http"},
    "bwot.query.cli": {"bwot.report.gallery", "bwot.datasets.manifest"},  # matplotlib, pandas: --png only
}
UNITS = {unit: floor for floor, (_, units) in enumerate(FLOORS) for unit in units}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str:
    """The longest unit of FLOORS that is `module` or one of its packages."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        if name in UNITS:
            return name
    raise AssertionError(f"{module} is on no floor: add it to FLOORS in tests/test_layers.py")


def _floor(module: str) -> int:
    return ENTRY_FLOOR if module.endswith(".cli") else UNITS[_unit(module)]


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported bwot module, line, inside a function) of every import in the file."""
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend(
                    (a.name, child.lineno, in_function) for a in child.names if a.name.startswith("bwot")
                )
            elif (
                isinstance(child, ast.ImportFrom)
                and child.level == 0
                and (child.module or "").startswith("bwot")
            ):
                module = child.module or ""
                # `from bwot import metric` imports the package bwot.metric
                names = [
                    f"{module}.{a.name}" if f"{module}.{a.name}" in UNITS else module for a in child.names
                ]
                found.extend((name, child.lineno, in_function) for name in names)
            visit(
                child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            )

    visit(ast.parse(path.read_text(), str(path)), False)
    return found


def _problems() -> list[str]:
    problems = []
    for path in sorted((SRC / "bwot").rglob("*.py")):
        module, where = _module_name(path), path.relative_to(SRC.parent)
        unit, floor = _unit(module), _floor(module)
        for target, line, lazy in _imports(path):
            if lazy and target not in LAZY_IMPORTS.get(module, set()):
                problems.append(f"{where}:{line}: imports {target} inside a function (import it at the top)")
            target_unit, target_floor = _unit(target), _floor(target)
            if target_unit == unit or target_floor < floor:
                continue
            if target_floor == floor and floor in (0, ENTRY_FLOOR):
                continue
            rule = "a higher floor" if target_floor > floor else "another unit of its own floor"
            problems.append(
                f"{where}:{line}: {module} ({FLOORS[floor][0]}) imports {target} "
                f"({FLOORS[target_floor][0]}): {rule}"
            )
    return problems


def test_every_import_points_down():
    problems = _problems()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from bwot.metric import load_metric_model\n", "imports bwot.metric (metric): a higher floor"),
        ("import bwot.features.layers\n", "another unit of its own floor"),
        ("def f():\n    from bwot.io import open_h5\n", "imports bwot.io inside a function"),
    ],
)
def test_the_check_catches_each_kind_of_import(tmp_path, monkeypatch, source, expected):
    """The rules fire: a module of bwot.evaluation importing upward, sideways or inside a function."""
    tree = tmp_path / "src"
    (tree / "bwot" / "evaluation").mkdir(parents=True)
    (tree / "bwot" / "evaluation" / "bad.py").write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "SRC", tree)
    assert any(expected in problem for problem in _problems())
