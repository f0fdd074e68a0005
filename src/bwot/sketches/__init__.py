"""The sketch stage: decode real and built-in sketches, normalise them and make their rotated copies.

decode (Pillow, any mode -> 8-bit grey on white) -> ink (paper level, threshold, specks, box, stroke
width) -> normalise (crop, margin, square, levels, thicken, resize) -> rotate (20 x 18 degrees, white
corners) -> shard (manifest rows -> HDF5 + skip report).
"""

from bwot.sketches.decode import decode_grayscale, load_grayscale
from bwot.sketches.errors import SketchError, SketchShardError
from bwot.sketches.ink import Ink, NoInkError, find_ink
from bwot.sketches.pipeline import normalise_gray, preprocess_gray, preprocess_sketch
from bwot.sketches.rotate import rotations
from bwot.sketches.shard import prepare_shard, split_rows

__all__ = [
    "Ink",
    "NoInkError",
    "SketchError",
    "SketchShardError",
    "decode_grayscale",
    "find_ink",
    "load_grayscale",
    "normalise_gray",
    "prepare_shard",
    "preprocess_gray",
    "preprocess_sketch",
    "rotations",
    "split_rows",
]
