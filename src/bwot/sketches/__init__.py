"""The sketch stage: decode real and built-in sketches, normalise them and make their rotated copies.

decode (Pillow, any mode -> 8-bit grey on white) -> ink (paper level, threshold, specks, box, stroke
width) -> normalise (crop, margin, square, levels, thicken, resize) -> rotate (20 x 18 degrees, white
corners) -> shard (manifest rows -> HDF5 + skip report).

The names below are imported on first use (PEP 562): a query preprocesses a sketch without importing the
shard writer's pandas.
"""

from __future__ import annotations

from bwot.lazy import lazy_package

__getattr__, __all__ = lazy_package(
    __name__,
    {  # module -> the names it gives this package
        "decode": ("decode_grayscale", "load_grayscale"),
        "errors": ("SketchError", "SketchShardError"),
        "ink": ("Ink", "NoInkError", "find_ink"),
        "pipeline": ("normalise_gray", "preprocess_gray", "preprocess_sketch"),
        "rotate": ("rotations",),
        "shard": ("prepare_shard", "split_rows"),
    },
)
