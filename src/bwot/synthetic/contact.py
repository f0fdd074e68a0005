"""The contact sheet of a generated benchmark: per class a model thumbnail and two training sketches."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class ClassBlock:
    """What the sheet shows of one class: its name, model count, a target model and two sketches."""

    name: str
    n_models: int
    model: Path
    sketches: list[Path]


def thumbnail(mesh: trimesh.Trimesh, size: int = CELL) -> Image.Image:
    """A shaded view with its feature lines, from a fixed three-quarter viewpoint."""
    camera = fit_camera(mesh, np.deg2rad(-60), np.deg2rad(25), size, fill=0.85)
    lines = np.asarray(clean_lines(mesh, camera, size))
    return Image.fromarray(np.minimum(shaded(mesh, camera, size), lines))


def contact_sheet(blocks: list[ClassBlock]) -> Image.Image:
    """The sheet of a generated benchmark: one block per class (the first MAX_CLASSES)."""
    shown = blocks[:MAX_CLASSES]
    rows = -(-len(shown) // COLUMNS)
    block_w, block_h = 3 * CELL + 8, CELL + LABEL + 8
    sheet = Image.new("L", (COLUMNS * block_w, rows * block_h), 255)
    pen = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for c, block in enumerate(shown):
        x0, y0 = (c % COLUMNS) * block_w + 4, (c // COLUMNS) * block_h + 2
        mesh = trimesh.load(block.model, force="mesh", process=False)
        cells = [thumbnail(mesh)] + [Image.open(p).convert("L") for p in block.sketches]
        for k, img in enumerate(cells):
            sheet.paste(img.resize((CELL, CELL), Image.Resampling.LANCZOS), (x0 + k * CELL, y0 + LABEL))
            pen.rectangle(
                (x0 + k * CELL, y0 + LABEL, x0 + (k + 1) * CELL - 1, y0 + LABEL + CELL - 1), outline=200
            )
        pen.text((x0 + 2, y0 + 2), f"{block.name} ({block.n_models} models)", fill=0, font=font)
    return sheet
