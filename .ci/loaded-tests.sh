#!/usr/bin/env bash
# The test suite on a loaded machine: a fresh clone of HEAD, `make test` RUNS times in a row (default 3)
# while BURNERS CPU-bound processes (default 2) run beside it. A test that depends on timing rather than
# on state fails here first.
#
#   bash .ci/loaded-tests.sh [RUNS] [BURNERS]      # logs: $TMPDIR/bwot-loaded-*/run-<n>.log
set -euo pipefail
runs=${1:-3}
burners=${2:-2}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/bwot-loaded-XXXXXX")
git clone --quiet "$repo" "$work/bwot"
# the real test data beside the clone, as beside the repository (tests/conftest.py looks in ../shared)
[ -d "$repo/../shared" ] && ln -s "$(cd "$repo/../shared" && pwd)" "$work/shared"
pids=()
for _ in $(seq "$burners"); do
  python3 -c 'while True: pass' &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
echo "loaded-tests: $runs runs of make test in $work/bwot beside $burners CPU-bound processes"
for n in $(seq "$runs"); do
  start=$(date +%s)
  if make -C "$work/bwot" test >"$work/run-$n.log" 2>&1; then
    echo "run $n: $(grep -E "[0-9]+ passed" "$work/run-$n.log" | tail -n 1) ($(($(date +%s) - start)) s)"
  else
    echo "run $n FAILED ($(($(date +%s) - start)) s): see $work/run-$n.log"
    grep -E "^(FAILED|ERROR)" "$work/run-$n.log" || tail -n 30 "$work/run-$n.log"
    exit 1
  fi
done
