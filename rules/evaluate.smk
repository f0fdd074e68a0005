# Stage 6a: retrieval metrics of each trained metric (each loss, seed and sweep point) on the test sketches.


rule evaluate:
    input:
        unpack(evaluation_inputs),
        model=rules.train_metric.output.model,
    output:
        metrics=f"{RES}/eval/{{loss}}/seed-{{seed}}/metrics.json",
        pr=f"{RES}/eval/{{loss}}/seed-{{seed}}/pr.csv",
        per_class=report(
            f"{RES}/eval/{{loss}}/seed-{{seed}}/per_class.csv",
            caption="../workflow/report/captions/per_class.rst",
            category="Evaluation",
            subcategory="{loss}",
            labels={"loss": "{loss}", "seed": "{seed}", "table": "per class"},
        ),
        ranking=f"{RES}/eval/{{loss}}/seed-{{seed}}/ranking.npz",
        per_query=f"{RES}/eval/{{loss}}/seed-{{seed}}/per_query.csv",
    log:
        f"{LOGS}/evaluate/{{loss}}/seed-{{seed}}.log",
    benchmark:
        f"{BENCH}/evaluate/{{loss}}/seed-{{seed}}.tsv"
    conda:
        "../envs/bwot.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime="30m",
    params:
        cfg=job_params("evaluate", config["evaluate"]),
        ranklists=lambda wc, output: os.path.join(
            os.path.dirname(output.metrics), "ranklists"
        ),
    script:
        "../workflow/scripts/evaluate.py"


use rule evaluate as sweep_evaluate with:
    input:
        unpack(evaluation_inputs),
        model=rules.sweep_train_metric.output.model,
    output:
        metrics=f"{SWEEP}/eval/{{loss}}/seed-{{seed}}/metrics.json",
        pr=f"{SWEEP}/eval/{{loss}}/seed-{{seed}}/pr.csv",
        per_class=f"{SWEEP}/eval/{{loss}}/seed-{{seed}}/per_class.csv",
        ranking=f"{SWEEP}/eval/{{loss}}/seed-{{seed}}/ranking.npz",
        per_query=f"{SWEEP}/eval/{{loss}}/seed-{{seed}}/per_query.csv",
    log:
        f"{LOGS}/sweep/{{key}}/{{value}}/evaluate/{{loss}}/seed-{{seed}}.log",
    benchmark:
        f"{BENCH}/sweep/{{key}}/{{value}}/evaluate/{{loss}}/seed-{{seed}}.tsv"
