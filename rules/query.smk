# Stage 7: a retrieval index per loss (the first metric seed), what `bwot query` and `bwot serve` answer
# from: the target models embedded once, their classes and thumbnails, the preprocessing and distance.


rule retrieval_index:
    input:
        model=expand(rules.train_metric.output.model, seed=SEEDS[0], allow_missing=True),
        # the sketch side of a query; the index records its checksum (a stale index is refused)
        backbone=expand(rules.train_backbone.output.model, modality="sketches"),
        shapes=features("shapes"),
        views=view_shards(),
        skipped_targets=view_shards("skipped"),
        models=rules.index_dataset.output.models,
        classes=rules.index_dataset.output.classes,
    output:
        index=f"{RES}/index/{{loss}}.h5",
    log:
        f"{LOGS}/retrieval_index/{{loss}}.log",
    benchmark:
        f"{BENCH}/retrieval_index/{{loss}}.tsv"
    conda:
        "../envs/bwot.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime="30m",
    params:
        sketches=job_params("sketches", config["sketches"]),
        distance=config["evaluate"]["distance"],
        view=config["report"]["gallery_view"],
        seed=SEEDS[0],
    script:
        "../workflow/scripts/retrieval_index.py"
