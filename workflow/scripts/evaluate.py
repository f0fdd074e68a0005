"""Snakemake entry point of rule `evaluate`: metrics of one trained metric on the test sketches."""

from bwot.evaluation.evaluate import evaluate_files
from bwot.logs import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821
evaluate_files(
    snakemake.input.model,  # noqa: F821
    snakemake.input.sketches,  # noqa: F821
    snakemake.input.shapes,  # noqa: F821
    dict(snakemake.output.items()),  # noqa: F821
    snakemake.params.cfg,  # noqa: F821
    classes_txt=snakemake.input.classes,  # noqa: F821
    ranklists_dir=snakemake.params.ranklists,  # noqa: F821
)
