# Stage 5: metric networks trained with the batch-wise OT loss and the baselines, one job per loss and
# seed; a sweep point (sweep: in the config) is the same job with one metric key changed.


rule train_metric:
    input:
        shapes=features("shapes"),
        sketches=features("sketches"),
    output:
        model=f"{RES}/metric/{{loss}}/seed-{{seed}}/model.pt",
        history=f"{RES}/metric/{{loss}}/seed-{{seed}}/history.csv",
    log:
        f"{LOGS}/train_metric/{{loss}}/seed-{{seed}}.log",
    benchmark:
        f"{BENCH}/train_metric/{{loss}}/seed-{{seed}}.tsv"
    conda:
        "../envs/bwot.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime="240m",
        gpu=int(uses_gpu(CFG.metric.device)),
    params:
        # what one job trains with: not the lists of losses or seeds (adding one reruns nothing else),
        # not bookkeeping, not the keys of other losses; the script takes the rest from the config
        cfg=metric_params,
        seed=lambda wc: int(wc.seed),
        checkpoints=lambda wc, output: os.path.join(
            os.path.dirname(output.model), "checkpoints"
        ),
    script:
        "../workflow/scripts/train_metric.py"


use rule train_metric as sweep_train_metric with:
    output:
        model=f"{SWEEP}/metric/{{loss}}/seed-{{seed}}/model.pt",
        history=f"{SWEEP}/metric/{{loss}}/seed-{{seed}}/history.csv",
    log:
        f"{LOGS}/sweep/{{key}}/{{value}}/train_metric/{{loss}}/seed-{{seed}}.log",
    benchmark:
        f"{BENCH}/sweep/{{key}}/{{value}}/train_metric/{{loss}}/seed-{{seed}}.tsv"
    params:
        cfg=sweep_metric_params,
        seed=lambda wc: int(wc.seed),
        checkpoints=lambda wc, output: os.path.join(
            os.path.dirname(output.model), "checkpoints"
        ),
