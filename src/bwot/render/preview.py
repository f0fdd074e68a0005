"""Contact sheets of rendered views: one row per mesh, its label on the left."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

LABEL_WIDTH = 110
GAP = 2


def contact_sheet(rows: list[tuple[str, np.ndarray]], columns: int | None = None) -> Image.Image:
    """A grey image of `(label, views (V, H, W) uint8)` rows; long rigs wrap after `columns` views."""
    _, first = rows[0]
    views, h, w = first.shape
    columns = columns or views
    lines = -(-views // columns)  # image lines per mesh
    width = LABEL_WIDTH + columns * (w + GAP)
    height = len(rows) * (lines * (h + GAP) + GAP)
    sheet = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(sheet)
    y = 0
    for label, images in rows:
        draw.text((4, y + h // 2 - 5), label, fill=0)
        for k, view in enumerate(images):
            x = LABEL_WIDTH + (k % columns) * (w + GAP)
            sheet.paste(Image.fromarray(view), (x, y + (k // columns) * (h + GAP)))
        y += lines * (h + GAP) + GAP
    return sheet
