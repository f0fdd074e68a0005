#!/usr/bin/env bash
# Snakemake runs this inside the environment of envs/bwot.yaml right after creating it (--sdm conda):
# it installs bwot itself from this repository, editable, so jobs run the checkout's code.
# Snakemake copies env files to .snakemake/conda/ before using them, so a relative path (`-e ..`) in the
# pip section cannot find the repository; the Snakefile exports BWOT_ROOT (its own folder) instead.
# Outside Snakemake: BWOT_ROOT=/path/to/bwot bash envs/bwot.post-deploy.sh (in the activated env).
set -euo pipefail
root=${BWOT_ROOT:-$PWD}
if ! grep -qs '^name = "bwot"' "$root/pyproject.toml"; then
  echo "bwot.post-deploy.sh: no bwot pyproject.toml in '$root' (set BWOT_ROOT to the repository)" >&2
  exit 1
fi
python -m pip install --no-deps --editable "$root"
python -c 'import bwot, sys; print("bwot installed from", bwot.__file__, "for", sys.executable)'
