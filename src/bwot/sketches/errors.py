"""Errors of the sketch stage: one bad file, and a shard with bad files (all of them listed)."""

from __future__ import annotations


class SketchError(ValueError):
    """A sketch file that cannot be used; `path` names the file, `reason` says why."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class SketchShardError(ValueError):
    """A shard with bad sketches; `problems` lists every offending file, not only the first."""

    def __init__(self, summary: str, problems: list[str]) -> None:
        self.summary = summary
        self.problems = list(problems)
        super().__init__("\n".join([summary, *(f"  - {p}" for p in self.problems)]))
