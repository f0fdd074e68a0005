"""Snakemake entry point of rule `report` (placeholder until its stage lands)."""

raise NotImplementedError("rule report is not implemented yet")
