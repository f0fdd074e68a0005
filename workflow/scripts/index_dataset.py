"""Snakemake entry point of rule `index_dataset`."""

from bwot.datasets import write_manifests
from bwot.logs import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821
write_manifests(
    snakemake.params.dataset,  # noqa: F821
    snakemake.params.root,  # noqa: F821
    snakemake.output.models,  # noqa: F821
    snakemake.output.sketches,  # noqa: F821
    snakemake.output.classes,  # noqa: F821
)
