"""metrics.md as a small self-contained HTML page (metrics.html), so that Snakemake's HTML report, which
shows HTML results and images in the page but offers every other file as a download only, shows the
numbers themselves.

Only the markdown that metrics.md is made of is understood: `#` headings, pipe tables (with `:--` / `--:`
alignment), `- ` lists, paragraphs, images (`![text](file)`: named, not embedded), `**bold**`, `*italic*`
and `` `code` ``; every other character is escaped.
"""

from __future__ import annotations

import html
import re

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       margin: 1.2em 1.6em; max-width: 78em; }
h1 { font-size: 1.45em; margin: 0.4em 0; } h2 { font-size: 1.2em; margin: 1.3em 0 0.4em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d7de; padding: 0.2em 0.45em; white-space: nowrap; }
th { background: #f6f8fa; } tr:nth-child(even) td { background: #fbfbfc; }
code { background: #f0f2f4; padding: 0 0.25em; border-radius: 3px; font-size: 0.92em; }
p, li { max-width: 60em; } .figure { color: #57606a; font-style: italic; }
"""

_INLINE = [
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"<em>\1</em>"),
]
_IMAGE = re.compile(r"^!\[([^\]]*)\]\(([^)]+)\)$")


def inline(text: str) -> str:
    """Escape one line of markdown text and turn its code, bold and italic spans into HTML."""
    out = html.escape(text, quote=False)
    for pattern, repl in _INLINE:
        out = pattern.sub(repl, out)
    return out


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _alignment(spec: str) -> str:
    spec = spec.strip()
    if spec.startswith(":") and spec.endswith(":"):
        return "center"
    return "right" if spec.endswith(":") else "left"


def _table(lines: list[str]) -> str:
    header, aligns = _cells(lines[0]), [_alignment(s) for s in _cells(lines[1])]
    out = ["<table>", "<thead><tr>"]
    out += [f'<th style="text-align:{a}">{inline(h)}</th>' for h, a in zip(header, aligns, strict=False)]
    out.append("</tr></thead><tbody>")
    for line in lines[2:]:
        cells = [
            f'<td style="text-align:{a}">{inline(c)}</td>' for c, a in zip(_cells(line), aligns, strict=False)
        ]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def markdown_html(markdown: str, title: str) -> str:
    """A whole HTML page (UTF-8, inline style, no script, nothing fetched) of metrics.md's markdown."""
    body: list[str] = []
    block: list[str] = []
    kind = None

    def flush() -> None:
        nonlocal block, kind
        if kind == "table":
            body.append(_table(block))
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{inline(item)}</li>" for item in block) + "</ul>")
        elif kind == "para":
            body.append(f"<p>{inline(' '.join(block))}</p>")
        block, kind = [], None

    for raw in markdown.splitlines():
        line = raw.strip()
        heading, image = re.match(r"(#{1,6}) (.*)", line), _IMAGE.match(line)
        if not line or heading or image:
            flush()
            if heading:
                level = len(heading.group(1))
                body.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
            elif image:
                text, src = image.groups()
                body.append(f'<p class="figure">Figure <code>{html.escape(src)}</code>: {inline(text)}</p>')
            continue
        new = "table" if line.startswith("|") else "list" if line.startswith("- ") else "para"
        if new == "para" and kind == "list":  # a list item going on over the next line
            block[-1] += " " + line
            continue
        if new != kind:
            flush()
            kind = new
        block.append(line[2:] if new == "list" else line)
    flush()
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


__all__ = ["markdown_html"]
