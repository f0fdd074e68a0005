# Stage 6b: the table of all losses, PR curves, convergence and a retrieval gallery.
LOSSES = config["metric"]["losses"]
CAPTIONS = "../workflow/report/captions"


report: "../workflow/report/workflow.rst"


rule report:
    input:
        metrics=expand(f"{RES}/eval/{{loss}}/metrics.json", loss=LOSSES),
        pr=expand(f"{RES}/eval/{{loss}}/pr.csv", loss=LOSSES),
        ranking=expand(f"{RES}/eval/{{loss}}/ranking.npz", loss=LOSSES),
        history=expand(f"{RES}/metric/{{loss}}/history.csv", loss=LOSSES),
        views=VIEW_SHARDS,
        test_sketches=SKETCH_SHARDS["test"],
        classes=f"{RES}/manifest/classes.txt",
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
        dataset=config["dataset"],
        name=NAME,
        losses=LOSSES,
        cfg=config["report"],
    script:
        "../workflow/scripts/report.py"
