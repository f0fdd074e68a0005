"""The tests section: the test suite's device-parametrised tests (`pytest -m gpu`) on the device."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import torch
from common import REPO, Sizes, python_env

TEST_FILES = tuple(f"tests/test_{name}.py" for name in ("losses", "metric", "features", "device"))


def device_tests(device: torch.device, sizes: Sizes) -> dict[str, Any]:
    """`pytest -m gpu` on the device-parametrised test files: counts of passed/failed/skipped."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu", *TEST_FILES]
    if device.type == "cuda":
        cmd += ["-n", "4"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=python_env(), timeout=600)
    counts = pytest_counts(proc.stdout)
    ok = proc.returncode in (0, 5) and counts.get("failed", 0) == 0 and counts.get("error", 0) == 0
    if device.type == "cuda":
        ok = ok and counts.get("passed", 0) > 0
    return {"ok": ok, "returncode": proc.returncode, "counts": counts, "tail": proc.stdout[-3000:]}


def pytest_counts(output: str) -> dict[str, int]:
    """{"passed": n, "skipped": m, ...} from pytest's last summary line."""
    lines = [ln for ln in output.strip().splitlines() if " in " in ln and ("passed" in ln or "skipped" in ln)]
    counts: dict[str, int] = {}
    for part in (lines[-1] if lines else "").strip("= ").split(" in ")[0].split(","):
        words = part.split()
        if len(words) == 2 and words[0].isdigit():
            counts[words[1].rstrip("s") if words[1] == "errors" else words[1]] = int(words[0])
    return counts
