"""The built-in procedural benchmark: parametric everyday objects and hand-drawn-looking sketches of them.

`generate_dataset(out, seed, preset, classes, scale=...)` writes it in the preset's SHREC layout (SHREC13, or
SHREC14 for shrec14-scale; docs/datasets.md), so the SHREC readers read it; `bwot synth` is its command line.
"""

from bwot.synthetic.presets import PRESETS, Preset, class_sizes, class_specs
from bwot.synthetic.shapes import CATALOGUE, make_shape
from bwot.synthetic.writer import generate_dataset

__all__ = ["CATALOGUE", "PRESETS", "Preset", "class_sizes", "class_specs", "generate_dataset", "make_shape"]
