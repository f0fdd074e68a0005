"""Snakemake entry point of rule `index_dataset`."""

from bwot.datasets import write_manifests
from bwot.logs import setup_logging

setup_logging(snakemake.log[0])
write_manifests(
    snakemake.params.dataset,
    snakemake.params.root,
    snakemake.output.models,
    snakemake.output.sketches,
    snakemake.output.classes,
)
