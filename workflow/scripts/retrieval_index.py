"""Snakemake entry point of rule `retrieval_index`: bwot.query.build_index."""

from bwot.logs import setup_logging
from bwot.query.build import build_index
from bwot.workflow import full_section

setup_logging(snakemake.log[0])
build_index(
    snakemake.output.index,
    metric_model=snakemake.input.model[0],
    backbone=snakemake.input.backbone[0],
    shapes=snakemake.input.shapes,
    views=snakemake.input.views,
    models_csv=snakemake.input.models,
    classes_txt=snakemake.input.classes,
    skipped_targets=snakemake.input.skipped_targets,
    sketches=full_section(snakemake.config, "sketches", snakemake.params.sketches),
    distance=snakemake.params.distance,
    view=snakemake.params.view,
    seed=snakemake.params.seed,
)
