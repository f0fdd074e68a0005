# Stage 4: a CNN fine-tuned per modality, then features of every image. Extraction reads only the keys
# marked x-extract in the schema: changing a training key reruns it through the model.


rule train_backbone:
    input:
        images=backbone_images,
        # the views whose line drawings join the sketch CNN's training (features.sketch_views)
        extra=lambda wc: (
            view_shards()
            if wc.modality == "sketches" and CFG.features.sketch_views
            else []
        ),
        weights=weights_file,
    output:
        model=f"{RES}/backbone/{{modality}}.pt",
        history=f"{RES}/backbone/{{modality}}.history.csv",
        summary=f"{RES}/backbone/{{modality}}.json",
    log:
        f"{LOGS}/train_backbone/{{modality}}.log",
    benchmark:
        f"{BENCH}/train_backbone/{{modality}}.tsv"
    conda:
        "../envs/bwot.yaml"
    threads: lambda wildcards: workflow.cores  # read at job time: --unlock needs no --cores
    resources:
        mem_mb=8000,
        runtime="240m",
        gpu=int(uses_gpu(CFG.features.device)),
    params:
        # the keys this modality's CNN reads (bwot.workflow.job_params); the rest from the config
        cfg=lambda wc: job_params("features", config["features"], modality=wc.modality),
        seed=CFG.seed,
    script:
        "../workflow/scripts/train_backbone.py"


rule extract_features:
    input:
        model=rules.train_backbone.output.model,
        images=feature_images,
    output:
        features=f"{RES}/features/{{modality}}.h5",
    log:
        f"{LOGS}/extract_features/{{modality}}.log",
    benchmark:
        f"{BENCH}/extract_features/{{modality}}.tsv"
    conda:
        "../envs/bwot.yaml"
    threads: lambda wildcards: workflow.cores  # read at job time: --unlock needs no --cores
    resources:
        mem_mb=8000,
        runtime="120m",
        gpu=int(uses_gpu(CFG.features.device)),
    params:
        cfg=job_params("features", config["features"], extract=True),
    script:
        "../workflow/scripts/extract_features.py"
