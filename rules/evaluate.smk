# Stage 6a: retrieval metrics of each trained metric on the test sketches.


rule evaluate:
    input:
        model=f"{RES}/metric/{{loss}}/model.pt",
        shapes=f"{RES}/features/shapes.h5",
        sketches=f"{RES}/features/sketches.h5",
        classes=f"{RES}/manifest/classes.txt",
    output:
        metrics=f"{RES}/eval/{{loss}}/metrics.json",
        pr=f"{RES}/eval/{{loss}}/pr.csv",
        per_class=report(
            f"{RES}/eval/{{loss}}/per_class.csv",
            caption="../workflow/report/captions/per_class.rst",
            category="Evaluation",
            subcategory="{loss}",
            labels={"loss": "{loss}", "table": "per class"},
        ),
        ranking=f"{RES}/eval/{{loss}}/ranking.npz",
    log:
        f"{LOGS}/evaluate/{{loss}}.log",
    benchmark:
        f"{BENCH}/evaluate/{{loss}}.tsv"
    conda:
        "../envs/bwot.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime="30m",
    params:
        cfg=config["evaluate"],
        ranklists=lambda wc: f"{RES}/eval/{wc.loss}/ranklists",
    script:
        "../workflow/scripts/evaluate.py"
