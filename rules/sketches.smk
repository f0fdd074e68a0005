# Stage 3: sketches normalised and rotated, one job per shard of each split.


rule prepare_sketches:
    input:
        sketches=rules.index_dataset.output.sketches,
    output:
        sketches=f"{RES}/sketches/{{split}}/shard-{{shard}}.h5",
        skipped=f"{RES}/sketches/{{split}}/shard-{{shard}}.skipped.csv",
    log:
        f"{LOGS}/prepare_sketches/{{split}}-shard-{{shard}}.log",
    benchmark:
        f"{BENCH}/prepare_sketches/{{split}}-shard-{{shard}}.tsv"
    conda:
        "../envs/bwot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime="30m",
    params:
        cfg=job_params("sketches", config["sketches"]),
    script:
        "../workflow/scripts/prepare_sketches.py"


# Target: every sketch shard of both splits and nothing after (like `--until prepare_sketches`).
rule all_sketches:
    input:
        sketch_shards("train"),
        sketch_shards("test"),
