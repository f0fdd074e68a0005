"""ConfigError and how config messages quote what they name."""

from __future__ import annotations

from typing import Any

QUOTE_CHARS = 80  # a value quoted in a message is cut to this many characters
MAX_LISTED = 50  # problems a ConfigError's message lists (all are in .problems)


class ConfigError(ValueError):
    """A config that cannot be used; the message names every offending key and what to do."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems[:MAX_LISTED])
        if len(self.problems) > MAX_LISTED:
            lines += f"\n  ... and {len(self.problems) - MAX_LISTED} more"
        super().__init__(f"config: {len(self.problems)} problem(s):\n{lines}")


def clip(text: str, limit: int = QUOTE_CHARS) -> str:
    """`text`, cut to `limit` characters with '...' when longer."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quote(value: Any) -> str:
    """A value as a message quotes it: its repr, cut to QUOTE_CHARS."""
    return clip(repr(value))


def kind_of(value: Any) -> str:
    """'an integer', 'a string', ... : what a YAML value is, in words."""
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list"}
    return "null" if value is None else names.get(type(value), f"a {type(value).__name__}")
