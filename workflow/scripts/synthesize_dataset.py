"""Snakemake entry point of rule `synthesize_dataset`: the built-in benchmark under resources/builtin."""

from bwot.logs import setup_logging
from bwot.synthetic import generate_dataset

setup_logging(snakemake.log[0])  # noqa: F821
cfg = snakemake.params.cfg  # noqa: F821
generate_dataset(
    snakemake.output[0],  # noqa: F821
    seed=snakemake.params.seed,  # noqa: F821
    preset=cfg["preset"],
    classes=cfg["classes"],
    sketch_size=cfg["sketch_size"],
    workers=snakemake.threads,  # noqa: F821
)
