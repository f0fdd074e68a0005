# Stage 5: metric networks trained with the batch-wise OT loss and the baselines, one job per loss.


rule train_metric:
    input:
        shapes=features("shapes"),
        sketches=features("sketches"),
    output:
        model=f"{RES}/metric/{{loss}}/model.pt",
        history=f"{RES}/metric/{{loss}}/history.csv",
    log:
        f"{LOGS}/train_metric/{{loss}}.log",
    benchmark:
        f"{BENCH}/train_metric/{{loss}}.tsv"
    conda:
        "../envs/bwot.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime="240m",
        gpu=int(uses_gpu(CFG.metric.device)),
    params:
        cfg=config["metric"],
        seed=CFG.seed,
        checkpoints=lambda wc, output: os.path.join(
            os.path.dirname(output.model), "checkpoints"
        ),
    script:
        "../workflow/scripts/train_metric.py"
