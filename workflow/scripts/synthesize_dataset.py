"""Snakemake entry point of rule `synthesize_dataset`: the built-in benchmark under resources/builtin/."""

from bwot.logs import setup_logging
from bwot.synthetic import generate_dataset
from bwot.workflow import full_section

setup_logging(snakemake.log[0])
generate_dataset(
    snakemake.output[0],
    seed=snakemake.params.seed,
    **{**full_section(snakemake.config, "synthetic", snakemake.params.cfg), "workers": snakemake.threads},
)
