# Stage 1: the dataset -> manifests (and the built-in benchmark when dataset is `builtin`).


rule synthesize_dataset:
    output:
        directory(CFG.builtin_root),
    log:
        f"logs/synthesize_dataset/{os.path.basename(CFG.builtin_root)}.log",
    benchmark:
        f"benchmarks/synthesize_dataset/{os.path.basename(CFG.builtin_root)}.tsv"
    conda:
        "../envs/bwot.yaml"
    # the number of processes changes the time, never the bytes: threads, not a param (x-bookkeeping)
    threads: CFG.synthetic.workers
    resources:
        mem_mb=2000,
        runtime="30m",
    params:
        cfg=job_params("synthetic", config["synthetic"]),
        seed=CFG.seed,
    script:
        "../workflow/scripts/synthesize_dataset.py"


rule index_dataset:
    input:
        rules.synthesize_dataset.output if CFG.dataset == "builtin" else [],
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
        dataset=CFG.dataset,
        root=lambda wildcards, input: input[0] if input else CFG.data_dir,
    script:
        "../workflow/scripts/index_dataset.py"
