# Stage 4: a CNN fine-tuned per modality, then features of every image.


rule train_backbone:
    input:
        images=backbone_images,
    output:
        model=f"{RES}/backbone/{{modality}}.pt",
        history=f"{RES}/backbone/{{modality}}.history.csv",
    log:
        f"{LOGS}/train_backbone/{{modality}}.log",
    benchmark:
        f"{BENCH}/train_backbone/{{modality}}.tsv"
    conda:
        "../envs/bwot.yaml"
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime="240m",
        gpu=int(uses_gpu(config["features"]["device"])),
    params:
        cfg=config["features"],
        seed=config["seed"],
    script:
        "../workflow/scripts/train_backbone.py"


rule extract_features:
    input:
        model=f"{RES}/backbone/{{modality}}.pt",
        images=feature_images,
    output:
        features=f"{RES}/features/{{modality}}.h5",
    log:
        f"{LOGS}/extract_features/{{modality}}.log",
    benchmark:
        f"{BENCH}/extract_features/{{modality}}.tsv"
    conda:
        "../envs/bwot.yaml"
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime="120m",
        gpu=int(uses_gpu(config["features"]["device"])),
    params:
        cfg=config["features"],
    script:
        "../workflow/scripts/extract_features.py"
