# Stage 2: 20 rendered views per mesh, one job per shard of the models manifest.


rule render_views:
    input:
        models=rules.index_dataset.output.models,
    output:
        views=f"{RES}/views/shard-{{shard}}.h5",
        skipped=f"{RES}/views/shard-{{shard}}.skipped.csv",
    log:
        f"{LOGS}/render_views/shard-{{shard}}.log",
    benchmark:
        f"{BENCH}/render_views/shard-{{shard}}.tsv"
    conda:
        "../envs/bwot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime="60m",
    params:
        # `up: auto` resolved for the dataset (z for the built-in benchmark, y for PSB/SHREC meshes)
        cfg=job_params("render", {**config["render"], "up": CFG.up}),
    script:
        "../workflow/scripts/render_views.py"


# Target: every views shard and nothing after (`snakemake render`, like `--until render_views`).
rule render:
    input:
        view_shards(),
