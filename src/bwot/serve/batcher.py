"""Concurrent queries: CNN passes side by side, the rest in batches, with the same bits as one at a time.

A query's cost on the CPU is its sketch CNN pass, then the sketch metric network and the distances,
which run in row tiles of a fixed size (bwot.tiles): one query alone pays for a whole tile. So:

1. each query's CNN pass starts as soon as its image is ready, on one of `workers` threads, side by side
   with the others' (one image per pass, one thread per pass: `Retriever.features`, the pipeline's
   `embed_upright`);
2. the metric network, the distances and the ranking take every query whose features are ready, up to
   a tile, as one batch (`Retriever.search_features`): one tile instead of one per query.

No step mixes one query's rows with another's, and every product has the shape it has for a query alone,
so every answer is the bits that query gets alone (tests/test_serve.py).

torch's intra-op thread count is process-wide and passes side by side must each keep one thread: the
batcher sets it to one for the process (a server does nothing else with torch). `evaluate` and
`retrieval_index` run with one thread too (their rules' `threads: 1`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from bwot.query.retriever import QueryResult, Retriever
from bwot.tiles import TILE_ROWS


@dataclass
class _Query:
    features: np.ndarray  # (D,) float32: the sketch CNN's
    image: np.ndarray  # (size, size) uint8, preprocessed upright
    name: str
    k: int
    answer: asyncio.Future[QueryResult] = field(repr=False)


class QueryBatcher:
    """`await batcher.search(image, name, k)`: the k nearest targets of a preprocessed sketch; `workers`
    threads (default: the CPUs this process may use) run the CNN passes and the batches."""

    def __init__(self, retriever: Retriever, workers: int | None = None, max_batch: int = TILE_ROWS) -> None:
        self.retriever = retriever
        self.max_batch = max_batch
        self.workers = workers or len(os.sched_getaffinity(0))
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="bwot-query")
        self.batches = 0  # batches run, and queries answered (for the log and the benchmark)
        self.queries = 0
        self._ready: asyncio.Queue[_Query] | None = None
        self._runner: asyncio.Task[None] | None = None
        torch.set_num_threads(1)

    async def search(self, image: np.ndarray, name: str, k: int) -> QueryResult:
        """The k nearest targets of one preprocessed (size, size) uint8 sketch."""
        return await self._search(self._features, (image,), name, k)

    async def search_file(self, data: bytes, name: str, k: int) -> QueryResult:
        """The k nearest targets of an image file's bytes (decoded and preprocessed on the same worker
        thread as its CNN pass; a ValueError naming `name` when it is not a usable sketch)."""
        return await self._search(self._file_features, (data, name), name, k)

    def _features(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return image, self.retriever.features(image[None])[0]

    def _file_features(self, data: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
        return self._features(self.retriever.prepare(data, name))

    async def _search(
        self, step: Callable[..., tuple[np.ndarray, np.ndarray]], args: tuple, name: str, k: int
    ):
        loop = asyncio.get_running_loop()
        image, features = await loop.run_in_executor(self.pool, step, *args)
        if self._ready is None:
            self._ready = asyncio.Queue()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        query = _Query(features, image, name, k, loop.create_future())
        self._ready.put_nowait(query)
        return await query.answer

    async def _run(self) -> None:
        assert self._ready is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._ready.get()]
            while len(batch) < self.max_batch and not self._ready.empty():
                batch.append(self._ready.get_nowait())
            batch = [q for q in batch if not q.answer.done()]  # cancelled: the client left
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(self.pool, self.answer, batch)
            except Exception as err:  # every query of the batch gets the error
                for query in batch:
                    if not query.answer.done():
                        query.answer.set_exception(err)
                continue
            for query, result in zip(batch, results, strict=True):
                if not query.answer.done():
                    query.answer.set_result(result)

    def answer(self, batch: list[_Query]) -> list[QueryResult]:
        """The queries of one batch, each with its own k (blocking: runs on a worker thread); the index
        file taken up again first when it changed (models added by `bwot add`)."""
        self.retriever.refresh()
        results = self.retriever.search_features(
            np.stack([q.features for q in batch]),
            np.stack([q.image for q in batch]),
            [q.name for q in batch],
            max(q.k for q in batch),
        )
        self.batches += 1
        self.queries += len(batch)
        return [QueryResult(r.name, r.image, r.hits[: q.k]) for q, r in zip(batch, results, strict=True)]

    def close(self) -> None:
        """Stop the worker threads (after the server has stopped)."""
        if self._runner is not None:
            self._runner.cancel()
        self.pool.shutdown(wait=False, cancel_futures=True)
