"""`bwot query`: the nearest target models of sketch files in a finished run, as a table, JSON or picture.

bwot query sketch.png --run results/builtin [--loss ot] [-k 10] [--png out.png] [--json]
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from bwot.io import PathLike, json_text
from bwot.losses.registry import LOSSES
from bwot.query.ann import add_backend_option
from bwot.query.retriever import QueryResult, Retriever


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sketches", nargs="+", type=Path, help="sketch files (PNG or JPEG)")
    parser.add_argument("--run", type=Path, required=True, help="a finished run's folder, results/<name>")
    parser.add_argument(
        "--loss", choices=list(LOSSES), help="whose metric and index (default: ot, or the only one indexed)"
    )
    parser.add_argument("-k", type=int, default=10, help="models listed per sketch (default 10)")
    add_backend_option(parser)
    parser.add_argument("--png", type=Path, help="also draw the sketches and their models to this PNG")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


def run(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise ValueError(f"-k must be at least 1, got {args.k}")
    retriever = Retriever(args.run, args.loss, backend=args.backend)
    results = retriever.search_many(args.sketches, args.k)
    index = retriever.index
    if args.json:
        print(json_text(retriever.summary() | {"queries": [r.as_dict() for r in results]}))
    else:
        n_targets, n_skipped = index.attrs["n_targets"], index.attrs["n_skipped"]
        n_added = len(index.added.get("added_ids", []))
        added = f", {n_added} added with bwot add" if n_added else ""
        print(
            f"run {args.run}, loss {retriever.loss}: {len(index) - n_added} of {n_targets} target models "
            f"({n_skipped} skipped upstream){added}, {index.distance} distance, {retriever.backend} search"
        )
        for result in results:
            print(format_table(result))
    if args.png:
        picture(retriever, results, args.png)
    return 0


def format_table(result: QueryResult) -> str:
    """The hits of one query as an aligned text table under its name."""
    width = max([5, *(len(h.id) for h in result.hits)])
    cls = max([5, *(len(h.class_name) for h in result.hits)])
    lines = [f"\n{result.name}", f"{'rank':>4}  {'model':<{width}}  {'class':<{cls}}  distance"]
    lines += [f"{h.rank:>4}  {h.id:<{width}}  {h.class_name:<{cls}}  {h.distance:.4f}" for h in result.hits]
    return "\n".join(lines)


def picture(retriever: Retriever, results: Sequence[QueryResult], path: PathLike) -> None:
    """The report's gallery of these queries: each sketch (as the CNN saw it), then its models with class
    and distance; framed green/red when the sketch is one of the run's (its class known), grey otherwise."""
    from bwot.report.gallery import GalleryRow, plot_gallery  # matplotlib: only for --png (1.3 s to import)

    known = known_classes(retriever.run_dir, [r.name for r in results])
    rows = []
    for result in results:
        truth = known.get(result.name)
        classes = [h.class_name for h in result.hits]
        rows.append(
            GalleryRow(
                sketch=result.image,
                query_class=truth or Path(result.name).name,
                images=list(retriever.index.thumbnails([h.row for h in result.hits])),
                classes=classes,
                correct=None if truth is None else [c == truth for c in classes],
                captions=[f"{h.class_name}\n{h.distance:.3f}" for h in result.hits],
            )
        )
    title = f"{retriever.run_dir}, {retriever.loss}: sketch, then its top {len(rows[0].images)} models"
    plot_gallery(rows, path, title=title)


def known_classes(run_dir: PathLike, names: Sequence[str]) -> dict[str, str]:
    """The class of each of `names` that is a sketch file of the run's manifest (paths in the manifest are
    relative to the workflow's folder, two levels above results/<name>)."""
    from bwot.datasets.manifest import read_manifest  # pandas: only for --png (0.3 s to import)

    manifest = Path(run_dir) / "manifest" / "sketches.csv"
    if not manifest.is_file():
        return {}
    table = read_manifest(manifest)
    workdir = Path(os.path.abspath(run_dir)).parent.parent
    by_path = {
        os.path.normpath(workdir / path): cls for path, cls in zip(table["path"], table["class"], strict=True)
    }  # an absolute path in the manifest stays itself
    found = {name: by_path.get(os.path.abspath(name)) for name in names}
    return {name: cls for name, cls in found.items() if cls is not None}
