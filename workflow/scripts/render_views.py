"""Snakemake entry point of rule `render_views` (placeholder until its stage lands)."""

raise NotImplementedError("rule render_views is not implemented yet")
