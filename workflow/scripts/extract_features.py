"""Snakemake entry point of rule `extract_features` (placeholder until its stage lands)."""

raise NotImplementedError("rule extract_features is not implemented yet")
