"""Princeton Shape Benchmark classification files (.cla), as SHREC ships them.

Format: `PSB 1`, then `<classes> <items>`, then per class a line `<name> <parent> <count>` followed by
`count` id lines; blank lines anywhere. Real files mix CRLF endings, tabs, double spaces, trailing
whitespace and zero-padded ids, so the parser splits on any whitespace and keeps ids as written.
"""

from __future__ import annotations

from pathlib import Path

from bwot.datasets.errors import DatasetError


def is_plain_name(item_id: str) -> bool:
    """An id usable as a file name: non-empty, no path separators, not '.' or '..', no control chars."""
    return (
        bool(item_id)
        and item_id not in (".", "..")
        and not any(c in item_id for c in "/\\\0")
        and item_id.isprintable()
    )


def read_cla(path: str | Path) -> dict[str, list[str]]:
    """Read a .cla file -> ordered mapping class name -> ids as written ('000003' stays '000003').

    Raises DatasetError naming the file for a malformed header or line, and, for every class whose
    declared count differs from the ids that follow it, the class and both counts (all of them at once).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig", errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read classification file ({exc})") from exc
    lines = [(n, line.split()) for n, line in enumerate(text.splitlines(), start=1)]
    lines = [(n, tokens) for n, tokens in lines if tokens]
    if len(lines) < 2 or lines[0][1] != ["PSB", "1"]:
        raise DatasetError(f"{path}: not a PSB .cla file (first line must be 'PSB 1')")
    n_classes, n_items = _header_counts(path, lines[1])

    classes: dict[str, list[str]] = {}
    declared: dict[str, int] = {}
    problems: list[str] = []
    current: str | None = None
    for n, tokens in lines[2:]:
        if len(tokens) == 3 and tokens[2].isdigit():
            current = tokens[0]
            if not is_plain_name(current):  # a class name is a folder in the SHREC sketch paths
                problems.append(
                    f"line {n}: class name {current!r} is not a plain name (no '/', '\\', '.' or '..')"
                )
            if current in classes:
                problems.append(f"line {n}: class '{current}' appears twice")
            classes.setdefault(current, [])
            declared[current] = int(tokens[2])
        elif len(tokens) == 1 and current is not None:
            classes[current].append(tokens[0])
        else:
            problems.append(
                f"line {n}: expected '<class> <parent> <count>' or one id, got {' '.join(tokens)!r}"
            )

    for name, ids in classes.items():
        if len(ids) != declared[name]:
            problems.append(f"class '{name}' declares {declared[name]} ids but lists {len(ids)}")
    if len(classes) != n_classes:
        problems.append(f"header declares {n_classes} classes but the file has {len(classes)}")
    total = sum(len(ids) for ids in classes.values())
    if total != n_items:
        problems.append(f"header declares {n_items} items but the file lists {total}")
    if problems:
        raise DatasetError(f"{path}: {len(problems)} problem(s) in classification file", problems)
    return classes


def _header_counts(path: Path, line: tuple[int, list[str]]) -> tuple[int, int]:
    n, tokens = line
    if len(tokens) != 2 or not all(t.isdigit() for t in tokens):
        raise DatasetError(f"{path}: line {n}: expected '<classes> <items>', got {' '.join(tokens)!r}")
    return int(tokens[0]), int(tokens[1])


def format_cla(classes: dict[str, list[str]]) -> str:
    """Write the PSB .cla text of `classes` (inverse of read_cla; parent 0, LF endings)."""
    total = sum(len(ids) for ids in classes.values())
    parts = [f"PSB 1\n{len(classes)} {total}\n"]
    for name, ids in classes.items():
        parts.append(f"\n{name} 0 {len(ids)}\n" + "".join(f"{i}\n" for i in ids))
    return "".join(parts)
