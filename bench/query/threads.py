"""One thread for OpenMP, MKL and OpenBLAS in a benchmark process: `one_thread()` re-executes the script
with them set when they are not, before numpy and torch start their thread pools (call it before
importing either)."""

from __future__ import annotations

import os
import sys

THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def one_thread() -> None:
    """Return when the thread variables are set; else start this script again with them."""
    if any(os.environ.get(k) != v for k, v in THREADS.items()):
        os.environ.update(THREADS)
        os.execv(sys.executable, [sys.executable, *sys.argv])
