"""bwot: sketch-based 3D shape retrieval with a batch-wise optimal-transport metric."""

__version__ = "0.1.0"
