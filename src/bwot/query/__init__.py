"""Use a trained run: the retrieval index of each loss, `Retriever(run_dir, loss).search(sketch, k)`, and
the `bwot query` command (`bwot serve`, the web page, is in bwot.serve).

The names below are imported on first use (PEP 562): the Snakefile's config check imports nothing heavy.
"""

from __future__ import annotations

from bwot.lazy import lazy_attributes

_NAMES = {  # name -> module: a table (its rows look alike by nature)
    "Hit": "bwot.query.retriever",
    "QueryResult": "bwot.query.retriever",
    "Retriever": "bwot.query.retriever",
    "index_path": "bwot.query.retriever",
    "RetrievalIndex": "bwot.query.index",
    "build_index": "bwot.query.build",
    "read_index": "bwot.query.index",
}
__all__ = sorted(_NAMES)
__getattr__ = lazy_attributes(__name__, _NAMES)
