"""Snakemake entry point of rule `evaluate` (placeholder until its stage lands)."""

raise NotImplementedError("rule evaluate is not implemented yet")
