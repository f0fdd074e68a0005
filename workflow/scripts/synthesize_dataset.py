"""Snakemake entry point of rule `synthesize_dataset` (placeholder until its stage lands)."""

raise NotImplementedError("rule synthesize_dataset is not implemented yet")
