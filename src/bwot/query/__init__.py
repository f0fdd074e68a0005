"""Use a trained run: the retrieval index of each loss, `Retriever(run_dir, loss).search(sketch, k)`, and
the `bwot query` command (`bwot serve`, the web page, is in bwot.serve).

The names below are imported on first use (PEP 562): the Snakefile's config check imports nothing heavy.
"""

from __future__ import annotations

from bwot.lazy import lazy_package

__getattr__, __all__ = lazy_package(
    __name__,
    {  # module -> the names it gives this package
        "retriever": ("Hit", "QueryResult", "Retriever", "index_path"),
        "index": ("RetrievalIndex", "read_index"),
        "build": ("build_index",),
    },
)
