"""Snakemake entry point of rule `prepare_sketches`: one shard of one split -> sketch HDF5 + skip report."""

from bwot.logs import setup_logging
from bwot.sketches import prepare_shard

setup_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected)
prepare_shard(
    snakemake.input.sketches,  # noqa: F821
    snakemake.output.sketches,  # noqa: F821
    snakemake.output.skipped,  # noqa: F821
    split=snakemake.wildcards.split,  # noqa: F821
    shard=int(snakemake.wildcards.shard),  # noqa: F821
    cfg=snakemake.params.cfg,  # noqa: F821
)
