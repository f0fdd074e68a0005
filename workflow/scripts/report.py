"""Snakemake entry point of rule `report`: tables, PR curves, convergence and the retrieval gallery."""

from bwot.logs import setup_logging
from bwot.report import build_report

setup_logging(snakemake.log[0])
build_report(
    losses=snakemake.params.losses,
    metrics=snakemake.input.metrics,
    pr=snakemake.input.pr,
    ranking=snakemake.input.ranking,
    history=snakemake.input.history,
    views=snakemake.input.views,
    test_sketches=snakemake.input.test_sketches,
    classes=snakemake.input.classes,
    outputs=dict(snakemake.output.items()),
    dataset=snakemake.params.dataset,
    name=snakemake.params.name,
    cfg=snakemake.params.cfg,
    manifests=(snakemake.input.models, snakemake.input.sketches),
    backbones=snakemake.input.backbones,
    run_config=snakemake.params.run_config,
    paper_config=snakemake.input.paper_config[0] if snakemake.input.paper_config else None,
)
