# Stage 4: a CNN fine-tuned per modality, then features of every image.
EXTRACT_KEYS = ["device", "extract_batch_size", "workers", "amp"]
_weights = config["features"]["weights"]
WEIGHTS_FILE = [] if _weights in (None, "auto", "imagenet") else [_weights]


rule train_backbone:
    input:
        images=backbone_images,
        # a local weights file is an input: a missing one stops the DAG naming it, a new one reruns
        weights=WEIGHTS_FILE,
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
        # only what extraction reads, so changing a training key reruns it through the model alone
        cfg={k: config["features"][k] for k in EXTRACT_KEYS},
    script:
        "../workflow/scripts/extract_features.py"
