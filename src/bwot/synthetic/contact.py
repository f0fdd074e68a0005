"""The contact sheet of a generated benchmark: per class a model thumbnail and two training sketches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh
from PIL import Image, ImageDraw, ImageFont

from bwot.synthetic.drawing import clean_lines
from bwot.synthetic.raster import fit_camera, shaded

CELL = 128
LABEL = 18
COLUMNS = 3  # class blocks per row
MAX_CLASSES = 36  # larger benchmarks show their first classes only


def thumbnail(mesh: trimesh.Trimesh, size: int = CELL) -> Image.Image:
    """A shaded view with its feature lines, from a fixed three-quarter viewpoint."""
    camera = fit_camera(mesh, np.deg2rad(-60), np.deg2rad(25), size, fill=0.85)
    lines = np.asarray(clean_lines(mesh, camera, size))
    return Image.fromarray(np.minimum(shaded(mesh, camera, size), lines))


def contact_sheet(root: Path, specs: list, items: list, seed: int) -> Image.Image:
    """The sheet for a benchmark written under `root` (items as planned by `writer.plan`)."""
    from bwot.synthetic.writer import item_path

    shown = specs[:MAX_CLASSES]
    rows = -(-len(shown) // COLUMNS)
    block_w, block_h = 3 * CELL + 8, CELL + LABEL + 8
    sheet = Image.new("L", (COLUMNS * block_w, rows * block_h), 255)
    pen = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for c, spec in enumerate(shown):
        x0, y0 = (c % COLUMNS) * block_w + 4, (c // COLUMNS) * block_h + 2
        model = next(i for i in items if i.kind == "model" and i.cls == c)
        sketches = [i for i in items if i.kind == "train" and i.cls == c][:2]
        mesh = trimesh.load(item_path(root, specs, model), force="mesh", process=False)
        cells = [thumbnail(mesh)] + [Image.open(item_path(root, specs, s)).convert("L") for s in sketches]
        for k, img in enumerate(cells):
            sheet.paste(img.resize((CELL, CELL), Image.Resampling.LANCZOS), (x0 + k * CELL, y0 + LABEL))
            pen.rectangle(
                (x0 + k * CELL, y0 + LABEL, x0 + (k + 1) * CELL - 1, y0 + LABEL + CELL - 1), outline=200
            )
        count = sum(1 for i in items if i.kind == "model" and i.cls == c)
        pen.text((x0 + 2, y0 + 2), f"{spec.name} ({count} models)", fill=0, font=font)
    return sheet
