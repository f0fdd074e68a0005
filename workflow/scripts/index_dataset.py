"""Snakemake entry point of rule `index_dataset` (placeholder until its stage lands)."""

raise NotImplementedError("rule index_dataset is not implemented yet")
