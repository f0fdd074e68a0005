# Stage 6b: the table of all losses, PR curves, convergence and a retrieval gallery.
LOSSES = config["metric"]["losses"]


rule report:
    input:
        metrics=expand(f"{RES}/eval/{{loss}}/metrics.json", loss=LOSSES),
        pr=expand(f"{RES}/eval/{{loss}}/pr.csv", loss=LOSSES),
        ranking=expand(f"{RES}/eval/{{loss}}/ranking.npz", loss=LOSSES),
        history=expand(f"{RES}/metric/{{loss}}/history.csv", loss=LOSSES),
        views=view_shards,
        test_sketches=sketch_shards("test"),
    output:
        table=f"{RES}/report/metrics.md",
        csv=f"{RES}/report/metrics.csv",
        pr=f"{RES}/report/pr_curves.png",
        convergence=f"{RES}/report/convergence.png",
        gallery=f"{RES}/report/gallery.png",
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
        losses=LOSSES,
        cfg=config["report"],
    script:
        "../workflow/scripts/report.py"
