"""Wheels for the GPU check on a GPU machine that reaches no package registry (bench/gpu/device.sh).

The NVIDIA H200 image this targets runs Python 3.12 with its own torch, torchvision, numpy, scipy, h5py,
pandas, matplotlib, pillow, pytest, pyyaml and tqdm (DEVICE_HAS below), but not what
bwot adds: snakemake and its plug-ins, trimesh, pyrender, PyOpenGL, imagecodecs, jsonschema, ... This
script takes the closure of those requirements as installed here, drops what the machine already has
(DEVICE_HAS), and puts a py3.12 manylinux wheel of each remaining one into `.whl/` (git-ignored): a
binary wheel from the package index where there is one, else a wheel built here from the source
distribution (pure Python). Run it here, where pip reaches PyPI:

    .venv/bin/python bench/gpu/wheels.py          # -> .whl/*.whl (copy it to the GPU machine)
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# what bwot imports beyond the GPU machine's image (the GPU check's sections need all of it)
ROOTS = ["snakemake", "snakemake-executor-plugin-slurm", "trimesh", "pyrender", "imagecodecs", "jsonschema"]
# the image's own packages (normalised names); never copied:
# a second version of one of them would stop the install there
DEVICE_HAS = set(
    """absl-py accelerate aiohttp anyio attrs certifi charset-normalizer click cloudpickle contourpy cycler
    filelock fonttools fsspec h5py idna jinja2 kiwisolver markupsafe matplotlib mpmath networkx numpy
    packaging pandas pillow platformdirs psutil pyparsing pytest python-dateutil pytz pyyaml requests
    scipy setuptools six sympy torch torchvision tqdm triton typing-extensions tzdata urllib3 wheel
    """.split()
)
PLATFORMS = [*(f"manylinux_2_{n}_x86_64" for n in (28, 27, 17)), "manylinux2014_x86_64", "manylinux1_x86_64"]
PLATFORMS.append("any")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(roots: list[str]) -> dict[str, str]:
    """name -> installed version of the roots and everything they require (here, without extras)."""
    seen: dict[str, str] = {}
    todo = [normalise(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional requirement not installed here
        seen[name] = dist.version
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            todo.append(normalise(re.split(r"[ ;<>=!~\[(]", req.strip(), maxsplit=1)[0]))
    return seen


def fetch(name: str, version: str, out: Path) -> str:
    """Put a wheel of name==version for CPython 3.12 on x86-64 Linux into `out`; say how."""
    spec = f"{name}=={version}"
    base = [sys.executable, "-m", "pip", "-q"]
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    binary = [*base, "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12"]
    binary += ["--implementation", "cp", *platforms, "-d", str(out), spec]
    if subprocess.run(binary, capture_output=True).returncode == 0:
        return "downloaded"
    built = [*base, "wheel", "--no-deps", "--no-binary", name, "-w", str(out), spec]
    if subprocess.run(built, capture_output=True).returncode == 0:
        return "built here (pure Python)"
    raise SystemExit(f"no wheel of {spec} for Python 3.12 x86-64, and none could be built here")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / ".whl")
    args = parser.parse_args()
    args.out.mkdir(exist_ok=True)
    needed = {n: v for n, v in sorted(closure(ROOTS).items()) if n not in DEVICE_HAS}
    for name, version in needed.items():
        print(f"{name}=={version}: {fetch(name, version, args.out)}")
    size = sum(p.stat().st_size for p in args.out.glob("*.whl"))
    mib = size / 2**20
    print(f"{len(needed)} wheels, {mib:.1f} MiB in {args.out} (to copy to the GPU machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
