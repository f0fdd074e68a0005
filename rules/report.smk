# Stage 6b: the table of all losses, PR curves, convergence and a retrieval gallery.
CAPTIONS = "../workflow/report/captions"
# the paper's protocol, to say how this run differs from it (SHREC datasets only)
PAPER_CONFIG = (
    [os.path.join(workflow.basedir, "config", f"{CFG.dataset}.yaml")]
    if CFG.dataset in ("shrec13", "shrec14")
    else []
)


report: "../workflow/report/workflow.rst"


rule report:
    input:
        metrics=expand(rules.evaluate.output.metrics, loss=LOSSES),
        pr=expand(rules.evaluate.output.pr, loss=LOSSES),
        ranking=expand(rules.evaluate.output.ranking, loss=LOSSES),
        history=expand(rules.train_metric.output.history, loss=LOSSES),
        backbones=expand(rules.train_backbone.output.summary, modality=MODALITIES),
        views=view_shards(),
        test_sketches=sketch_shards("test"),
        classes=rules.index_dataset.output.classes,
        models=rules.index_dataset.output.models,
        sketches=rules.index_dataset.output.sketches,
        paper_config=PAPER_CONFIG,
    output:
        table=report(
            f"{RES}/report/metrics.md",
            caption=f"{CAPTIONS}/metrics.rst",
            category="Results",
            labels={"figure": "results table (markdown)"},
        ),
        csv=report(
            f"{RES}/report/metrics.csv",
            caption=f"{CAPTIONS}/metrics.rst",
            category="Results",
            labels={"figure": "results table"},
        ),
        pr=report(
            f"{RES}/report/pr_curves.png",
            caption=f"{CAPTIONS}/pr_curves.rst",
            category="Results",
            labels={"figure": "precision-recall"},
        ),
        pr_data=f"{RES}/report/pr_curves.csv",
        convergence=report(
            f"{RES}/report/convergence.png",
            caption=f"{CAPTIONS}/convergence.rst",
            category="Training",
            labels={"figure": "convergence"},
        ),
        gallery=report(
            f"{RES}/report/gallery.png",
            caption=f"{CAPTIONS}/gallery.rst",
            category="Results",
            labels={"figure": "retrieval gallery"},
        ),
    log:
        f"{LOGS}/report.log",
    conda:
        "../envs/bwot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime="15m",
    params:
        dataset=CFG.dataset,
        name=NAME,
        losses=LOSSES,
        cfg=config["report"],
        # what the report says of the run: its protocol where there is a paper's to compare with
        run_config=(
            CFG.protocol()
            if PAPER_CONFIG
            else {"dataset": CFG.dataset, "data_dir": CFG.data_dir}
        ),
    script:
        "../workflow/scripts/report.py"
