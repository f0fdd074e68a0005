# Stage 6a: retrieval metrics of each trained metric on the test sketches.


rule evaluate:
    input:
        model=rules.train_metric.output.model,
        shapes=features("shapes"),
        sketches=features("sketches"),
        classes=rules.index_dataset.output.classes,
        # every target of the manifest is ranked (skipped ones last) and every skip is reported
        models=rules.index_dataset.output.models,
        sketch_manifest=rules.index_dataset.output.sketches,
        skipped_targets=view_shards("skipped"),
        skipped_queries=sketch_shards("test", "skipped"),
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
        ranklists=lambda wc, output: os.path.join(
            os.path.dirname(output.metrics), "ranklists"
        ),
    script:
        "../workflow/scripts/evaluate.py"
