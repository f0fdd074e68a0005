"""Snakemake entry point of rule `evaluate`: metrics of one trained metric on the test sketches."""

from bwot.evaluation.evaluate import evaluate_files
from bwot.evaluation.inventory import Inventory
from bwot.logs import setup_logging
from bwot.metric import load_metric_model
from bwot.workflow import full_section

setup_logging(snakemake.log[0])
evaluate_files(
    snakemake.input.model,
    snakemake.input.sketches,
    snakemake.input.shapes,
    dict(snakemake.output.items()),
    full_section(snakemake.config, "evaluate", snakemake.params.cfg),
    classes_txt=snakemake.input.classes,
    ranklists_dir=snakemake.params.ranklists,
    loader=load_metric_model,
    inventory=Inventory.from_files(
        snakemake.input.models,
        snakemake.input.sketch_manifest,
        snakemake.input.skipped_targets,
        snakemake.input.skipped_queries,
    ),
)
