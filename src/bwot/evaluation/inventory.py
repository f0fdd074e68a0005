"""What the dataset lists against what reached the evaluation: every target ranked, nothing dropped silently.

The SHREC metrics are defined over all target models of the model `.cla` (C = the official class size).
A target that an upstream stage skipped (a bad mesh under `render.on_bad_mesh: skip`) has no features; it is
still ranked, last for every query (after every embedded target, in manifest order), so that C and the
list length stay the official ones. A skipped test sketch cannot be a query; it is listed. Any item that is
missing downstream without a skip record is an error: nothing disappears without a word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bwot.datasets.manifest import read_manifest
from bwot.io import PathLike
from bwot.shards import read_skip_reports


@dataclass
class Inventory:
    """The manifests' targets and test sketches, and the rows the upstream stages skipped (with reasons)."""

    targets: pd.DataFrame  # models.csv: id, class, label, path
    queries: pd.DataFrame  # test rows of sketches.csv
    skipped_targets: pd.DataFrame  # id, path, reason (+ class after `check`)
    skipped_queries: pd.DataFrame

    @classmethod
    def from_files(
        cls,
        models_csv: PathLike,
        sketches_csv: PathLike,
        target_skips: Sequence[PathLike] = (),
        query_skips: Sequence[PathLike] = (),
    ) -> Inventory:
        """Read the manifests and the skip reports of the views shards and of the test sketch shards."""
        sketches = read_manifest(sketches_csv)
        return cls(
            targets=read_manifest(models_csv),
            queries=sketches[sketches["split"] == "test"].reset_index(drop=True),
            skipped_targets=read_skip_reports(target_skips),
            skipped_queries=read_skip_reports(query_skips),
        )

    def target_columns(self, feature_ids: np.ndarray, feature_labels: np.ndarray, where: str) -> np.ndarray:
        """The manifest position of each embedded target; checks that the features hold exactly the manifest's
        targets minus the skipped ones, with the manifest's labels (all problems named at once)."""
        position = {tid: i for i, tid in enumerate(self.targets["id"])}
        problems = _unknown(feature_ids, position, f"{where}: target id(s) not in the models manifest")
        columns = np.array([position.get(t, -1) for t in feature_ids], dtype=np.int64)
        known = columns >= 0
        wrong = known & (self.targets["label"].to_numpy()[np.maximum(columns, 0)] != feature_labels)
        if wrong.any():
            problems.append(
                f"{where}: labels differ from the models manifest for {_some(feature_ids[wrong])}"
            )
        problems += _unexplained(self.targets["id"], feature_ids, self.skipped_targets, "target", where)
        if problems:
            raise ValueError("\n".join(problems))
        return columns

    def check_queries(self, query_ids: np.ndarray, where: str) -> None:
        """Every test sketch of the manifest is a query or has a skip record; no query is unknown."""
        known = set(self.queries["id"])
        problems = _unknown(query_ids, known, f"{where}: test sketch id(s) not in the sketches manifest")
        problems += _unexplained(self.queries["id"], query_ids, self.skipped_queries, "test sketch", where)
        if problems:
            raise ValueError("\n".join(problems))

    def skipped(self) -> dict[str, list[dict[str, str]]]:
        """For metrics.json: the skipped targets and query sketches, each with class, path and reason."""
        return {
            "targets": _with_class(self.skipped_targets, self.targets),
            "queries": _with_class(self.skipped_queries, self.queries),
        }


def _unknown(ids: np.ndarray, known, message: str) -> list[str]:
    unknown = [str(i) for i in ids if i not in known]
    return [f"{message}: {_some(unknown)}"] if unknown else []


def _unexplained(
    listed: pd.Series, present: np.ndarray, skipped: pd.DataFrame, what: str, where: str
) -> list:
    missing = sorted(set(listed) - set(present) - set(skipped["id"]))
    if not missing:
        return []
    n = len(missing)
    return [f"{where}: {n} {what}(s) of the manifest have no features and no skip record: {_some(missing)}"]


def _with_class(skipped: pd.DataFrame, table: pd.DataFrame) -> list[dict[str, str]]:
    cls = dict(zip(table["id"], table["class"], strict=True))
    return [
        {"id": row.id, "class": cls.get(row.id, ""), "path": row.path, "reason": row.reason}
        for row in skipped.itertuples(index=False)
    ]


def _some(ids, limit: int = 20) -> str:
    ids = [str(i) for i in ids]
    return ", ".join(ids[:limit]) + (f" ... ({len(ids)} in all)" if len(ids) > limit else "")
