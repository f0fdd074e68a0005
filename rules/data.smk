# Stage 1: the dataset -> manifests (and the built-in benchmark when dataset is `builtin`).


rule synthesize_dataset:
    output:
        directory(BUILTIN_ROOT),
    log:
        f"logs/synthesize_dataset.log",
    benchmark:
        f"benchmarks/synthesize_dataset.tsv"
    conda:
        "../envs/bwot.yaml"
    threads: config["synthetic"]["workers"]
    resources:
        mem_mb=2000,
        runtime="30m",
    params:
        cfg=config["synthetic"],
        seed=config["seed"],
    script:
        "../workflow/scripts/synthesize_dataset.py"


rule index_dataset:
    input:
        BUILTIN_ROOT if config["dataset"] == "builtin" else [],
    output:
        models=f"{RES}/manifest/models.csv",
        sketches=f"{RES}/manifest/sketches.csv",
        classes=f"{RES}/manifest/classes.txt",
    log:
        f"{LOGS}/index_dataset.log",
    conda:
        "../envs/bwot.yaml"
    resources:
        mem_mb=1000,
        runtime="10m",
    params:
        dataset=config["dataset"],
        root=lambda wildcards, input: input[0] if input else dataset_root(),
    script:
        "../workflow/scripts/index_dataset.py"
