"""The built-in procedural benchmark: parametric everyday objects and hand-drawn-looking sketches of them.

`generate_dataset(out, seed, preset, classes)` writes it in the SHREC13 layout (docs/datasets.md), so the
SHREC13 reader reads it; `bwot synth` is its command line.
"""

from bwot.synthetic.presets import PRESETS, Preset, class_sizes, class_specs
from bwot.synthetic.shapes import CATALOGUE, make_shape
from bwot.synthetic.writer import generate_dataset

__all__ = ["CATALOGUE", "PRESETS", "Preset", "class_sizes", "class_specs", "generate_dataset", "make_shape"]
