"""Snakemake entry point of rule `report`: tables with intervals, sweeps, PR curves, convergence, gallery,
per-class mAP, class confusion, the worst queries and the embedding map."""

from bwot.logs import setup_logging
from bwot.report import build_report
from bwot.report.build import LossFiles
from bwot.report.embedding import MapInputs
from bwot.report.stats import SweepRun
from bwot.workflow import full_section

setup_logging(snakemake.log[0])
inputs, params = snakemake.input, snakemake.params
seeds = params.seeds
losses = LossFiles.split(
    params.losses,
    seeds,
    metrics=inputs.metrics,
    pr=inputs.pr,
    per_query=inputs.per_query,
    history=inputs.history,
    ranking=inputs.ranking,
)
sweep = [
    SweepRun(key, value, loss, list(inputs.sweep[i * seeds : (i + 1) * seeds]))
    for i, (key, value, loss) in enumerate(params.sweep)
]
outputs = dict(snakemake.output.items())
outputs["sweep"] = outputs["sweep"][0] if outputs["sweep"] else None
build_report(
    losses=losses,
    views=inputs.views,
    test_sketches=inputs.test_sketches,
    classes=inputs.classes,
    outputs=outputs,
    dataset=params.dataset,
    name=params.name,
    cfg=full_section(snakemake.config, "report", params.cfg),
    manifests=(inputs.models, inputs.sketches),
    backbones=inputs.backbones,
    run_config=params.run_config,
    paper_config=inputs.paper_config[0] if inputs.paper_config else None,
    sweep=sweep,
    sweep_base=params.sweep_base,
    embedding=MapInputs(inputs.gallery_model[0], inputs.sketch_features, inputs.shape_features),
    seed=params.seed,
)
