"""What the sharded stages (render_views, prepare_sketches) share: which manifest rows a shard holds, its
skip report, and progress lines in the job's log.

Shard i of N holds rows [i*n//N, (i+1)*n//N) of the n rows it is cut from (bwot.splits.shard_bounds). Bad
items of a shard are all collected first; with `on_bad_*: error` the shard fails naming every one, with
`skip` they are left out and listed in its skip report (`shard-<i>.skipped.csv`: id, path, reason), which
the evaluation reads so that nothing disappears without a word.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterable, Sequence

import pandas as pd
from tqdm import tqdm

from bwot.io import PathLike, write_csv
from bwot.splits import shard_bounds

SKIP_COLUMNS = ["id", "path", "reason"]
log = logging.getLogger(__name__)


def shard_rows(
    table: pd.DataFrame, shard: int, shards: int, required: Sequence[str], where: PathLike
) -> pd.DataFrame:
    """Rows of shard `shard` of `shards` of `table` in order (may be empty); `required` columns checked."""
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {', '.join(missing)} (has {', '.join(table.columns)})")
    start, stop = shard_bounds(len(table), shard, shards)
    return table.iloc[start:stop]


def write_skip_report(path: PathLike, bad: Iterable[tuple[str, str, str]]) -> pd.DataFrame:
    """Write the skip report (id, path, reason rows) atomically; return it."""
    report = pd.DataFrame(list(bad), columns=SKIP_COLUMNS)
    write_csv(path, report)
    return report


def read_skip_reports(paths: Sequence[PathLike]) -> pd.DataFrame:
    """The rows of several skip reports, in order; ids kept as strings."""
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths]
    for path, frame in zip(paths, frames, strict=True):
        missing = [c for c in SKIP_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"{path}: not a skip report (missing column(s) {', '.join(missing)})")
    if not frames:
        return pd.DataFrame(columns=SKIP_COLUMNS)
    return pd.concat([f[SKIP_COLUMNS] for f in frames], ignore_index=True)


def progress(total: int, desc: str, unit: str, every: float = 10.0) -> tqdm:
    """A tqdm bar whose lines (rate, estimate) go to the log every `every` seconds."""
    return tqdm(total=total, desc=desc, unit=unit, file=_LogStream(), mininterval=every, ascii=True)


class _LogStream:
    """A file-like object that sends tqdm's progress lines to the log."""

    def write(self, text: str) -> None:
        text = text.strip("\r\n ")
        if text:
            log.info(text)

    def flush(self) -> None:
        """Nothing buffered."""


def add_shard_arguments(parser: argparse.ArgumentParser, what: str, key: str) -> None:
    """`--shard` and `--shards` of a command that writes one shard of `what` (the workflow's `key`)."""
    parser.add_argument("--shard", type=int, default=0, help="which shard (0..shards-1)")
    parser.add_argument(
        "--shards", type=int, default=1, help=f"shards {what} is cut into (default 1; the workflow: {key})"
    )
