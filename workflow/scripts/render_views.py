"""Snakemake entry point of rule `render_views`: one shard of the models manifest -> views HDF5."""

from bwot.logs import setup_logging
from bwot.render import render_shard
from bwot.workflow import full_section

setup_logging(snakemake.log[0])
render_shard(
    snakemake.input.models,
    int(snakemake.wildcards.shard),
    snakemake.output.views,
    snakemake.output.skipped,
    full_section(snakemake.config, "render", snakemake.params.cfg),
    threads=snakemake.threads,
)
