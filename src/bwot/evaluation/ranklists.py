"""SHREC rank-list files, the input of the official SHREC evaluation tools.

Format (SHREC'13/'14 sketch track, "rank list format" page): one ASCII file per query sketch, named as the
query with no extension; the first line is the query name; then one line per target model,
`<model name> <distance>`, most similar first. Model names are `m<id>` for numeric ids (the SHREC
convention, e.g. `m665`; zero-padded ids as written in the .cla keep their padding) and the id itself
otherwise.

Distances are finite: the official reader (Sketch3DToolkit's C++ `mexEvalRankLists`) stops at the first
token that is not a number, without a word, and scores the truncated list. A target skipped upstream
(distance +inf in `evaluate`) is written with a distance above every real one of its list
(`finite_distances`): it still ranks last, in the manifest's order, and the whole list is read.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bwot.io import PathLike


def model_name(model_id: str) -> str:
    """The name of a target model in a rank list: `m<id>` for numeric ids, else the id."""
    return f"m{model_id}" if model_id.isdigit() else model_id


def finite_distances(row: np.ndarray) -> np.ndarray:
    """`row` with every distance that is not finite (a skipped target's +inf) replaced by one value above
    all its finite ones (twice the largest, plus one): the order is kept, and every token is a number."""
    row = np.asarray(row, dtype=np.float64)
    finite = np.isfinite(row)
    if finite.all():
        return row
    top = float(row[finite].max(initial=0.0))
    return np.where(finite, row, 2.0 * max(top, 0.0) + 1.0)


def format_ranklist(query: str, names: Sequence[str], distances: np.ndarray) -> str:
    """The text of one rank list; `names`/`distances` already in rank order."""
    lines = [query, *(f"{n} {d:.9g}" for n, d in zip(names, distances.tolist(), strict=True))]
    return "\n".join(lines) + "\n"


def write_ranklists(
    folder: PathLike,
    query_names: Sequence[str],
    target_ids: Sequence[str],
    distances: Any,
    *,
    block: int = 256,
) -> Path:
    """Write one rank list per query (all targets, stable order by distance) into `folder`, atomically.

    `distances`: (n_queries, n_targets), an array or any object whose row slices are arrays. The folder
    is built under a temporary name and renamed into place; an older folder is replaced.
    """
    folder = Path(folder)
    names = np.array([model_name(str(t)) for t in target_ids], dtype=object)
    counts = Counter(query_names)
    bad = sorted(q for q, k in counts.items() if k > 1 or not q or "/" in q or q in (".", ".."))
    if bad:
        raise ValueError(f"query names unusable as rank-list file names (empty, '/' or repeated): {bad}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        if len(query_names) != len(distances):
            raise ValueError(f"{len(query_names)} query names for {len(distances)} rows of distances")
        for lo in range(0, len(query_names), block):  # row blocks: `distances` may compute rows lazily
            for query, row in zip(query_names[lo : lo + block], distances[lo : lo + block], strict=True):
                order = np.argsort(row, kind="stable")  # +inf last, in target order
                (tmp / query).write_text(format_ranklist(query, names[order], finite_distances(row[order])))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def read_ranklist(path: PathLike) -> tuple[str, list[str], np.ndarray]:
    """Read one rank list: (query name, model names in rank order, distances)."""
    lines = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
    if not lines or len(lines[0]) != 1:
        raise ValueError(f"{path}: the first line must hold only the query name")
    bad = [i + 2 for i, parts in enumerate(lines[1:]) if len(parts) != 2]
    if bad:
        raise ValueError(f"{path}: lines not of the form '<model> <distance>': {bad[:20]}")
    names = [parts[0] for parts in lines[1:]]
    distances = np.array([float(parts[1]) for parts in lines[1:]])
    return lines[0][0], names, distances
