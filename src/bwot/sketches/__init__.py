"""The sketch stage: decode real and built-in sketches, normalise them and make their rotated copies.

decode (Pillow, any mode -> 8-bit grey on white) -> ink (paper level, threshold, specks, box, stroke
width) -> normalise (crop, margin, square, levels, thicken, resize) -> rotate (20 x 18 degrees, white
corners) -> shard (manifest rows -> HDF5 + skip report).

The names below are imported on first use (PEP 562): a query preprocesses a sketch without importing the
shard writer's pandas.
"""

from __future__ import annotations

from bwot.lazy import lazy_attributes

_NAMES = {  # name -> module: a table (its rows look alike by nature)
    "decode_grayscale": "bwot.sketches.decode",
    "load_grayscale": "bwot.sketches.decode",
    "SketchError": "bwot.sketches.errors",
    "SketchShardError": "bwot.sketches.errors",
    "Ink": "bwot.sketches.ink",
    "NoInkError": "bwot.sketches.ink",
    "find_ink": "bwot.sketches.ink",
    "normalise_gray": "bwot.sketches.pipeline",
    "preprocess_gray": "bwot.sketches.pipeline",
    "preprocess_sketch": "bwot.sketches.pipeline",
    "rotations": "bwot.sketches.rotate",
    "prepare_shard": "bwot.sketches.shard",
    "split_rows": "bwot.sketches.shard",
}
__all__ = sorted(_NAMES)
__getattr__ = lazy_attributes(__name__, _NAMES)
