"""Snakemake entry point of rule `prepare_sketches`: one shard of one split -> sketch HDF5 + skip report."""

from bwot.logs import setup_logging
from bwot.sketches import prepare_shard
from bwot.workflow import full_section

setup_logging(snakemake.log[0])
prepare_shard(
    snakemake.input.sketches,
    snakemake.output.sketches,
    snakemake.output.skipped,
    split=snakemake.wildcards.split,
    shard=int(snakemake.wildcards.shard),
    cfg=full_section(snakemake.config, "sketches", snakemake.params.cfg),
)
