"""Snakemake entry point of rule `train_backbone` (placeholder until its stage lands)."""

raise NotImplementedError("rule train_backbone is not implemented yet")
