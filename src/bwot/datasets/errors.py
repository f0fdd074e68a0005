"""The error every dataset reader raises: one message naming the file(s) and every offending item."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset that cannot be read; `problems` lists every offending item, not only the first."""

    def __init__(self, summary: str, problems: list[str] | None = None) -> None:
        self.summary = summary
        self.problems = list(problems or [])
        lines = [summary, *(f"  - {p}" for p in self.problems)]
        super().__init__("\n".join(lines))
