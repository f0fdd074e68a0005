"""What kind of file a path is, said in words: bad input that is not a regular file is refused by `stat`,
before it is opened (a FIFO would block the open, a device would never end)."""

from __future__ import annotations

import stat

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a pipe or FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def not_regular(mode: int) -> str | None:
    """None for a regular file's `st_mode`; else what the file is, e.g. 'a pipe or FIFO'."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "a special file")
