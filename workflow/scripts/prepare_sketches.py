"""Snakemake entry point of rule `prepare_sketches` (placeholder until its stage lands)."""

raise NotImplementedError("rule prepare_sketches is not implemented yet")
