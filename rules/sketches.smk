# Stage 3: sketches normalised and rotated, one job per shard of each split.


rule prepare_sketches:
    input:
        sketches=f"{RES}/manifest/sketches.csv",
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
        cfg=config["sketches"],
    script:
        "../workflow/scripts/prepare_sketches.py"


rule all_sketches:
    # Target: every sketch shard of both splits and nothing after (like `--until prepare_sketches`).
    input:
        SKETCH_SHARDS["train"],
        SKETCH_SHARDS["test"],
