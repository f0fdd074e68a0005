"""Snakemake entry point of rule `train_metric` (placeholder until its stage lands)."""

raise NotImplementedError("rule train_metric is not implemented yet")
