#!/usr/bin/env bash
# The GPU check on a GPU machine that reaches no package registry (for example an image with Python 3.12
# and its own torch; bwot's other needs travel as wheels). Prepare on a machine with the registry, once:
#   .venv/bin/python bench/gpu/wheels.py            # -> .whl/ (about 57 MiB of py3.12 wheels)
#   and, for NVIDIA's EGL, the glvnd loaders into .gl/
# then run on the GPU machine, in one call (with .whl and .gl copied there):
#   bash bench/gpu/device.sh                         # results in $OUT (bench/out when unset)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -d .gl ]; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD/src" PYTHONUNBUFFERED=1
out="${OUT:-bench/out}"
mkdir -p "$out"
python3 bench/gpu/run.py --out-dir "$out" 2>&1 | tee "$out/gpu.log"
