"""Snakemake entry point of rule `report`: tables, PR curves, convergence and the retrieval gallery."""

from bwot.logs import setup_logging
from bwot.report import build_report

setup_logging(snakemake.log[0])  # noqa: F821
build_report(
    losses=snakemake.params.losses,  # noqa: F821
    metrics=snakemake.input.metrics,  # noqa: F821
    pr=snakemake.input.pr,  # noqa: F821
    ranking=snakemake.input.ranking,  # noqa: F821
    history=snakemake.input.history,  # noqa: F821
    views=snakemake.input.views,  # noqa: F821
    test_sketches=snakemake.input.test_sketches,  # noqa: F821
    classes=snakemake.input.classes,  # noqa: F821
    outputs=dict(snakemake.output.items()),  # noqa: F821
    dataset=snakemake.params.dataset,  # noqa: F821
    name=snakemake.params.name,  # noqa: F821
    cfg=snakemake.params.cfg,  # noqa: F821
)
