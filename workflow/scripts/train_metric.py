"""Snakemake entry point of rule `train_metric`: one loss, resuming from its checkpoints folder."""

import torch

from bwot.device import claim_gpu
from bwot.logs import setup_logging
from bwot.metric import train_metric
from bwot.workflow import full_section

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
cfg = full_section(snakemake.config, "metric", snakemake.params.cfg)
train_metric(
    snakemake.input.shapes,
    snakemake.input.sketches,
    snakemake.output.model,
    snakemake.output.history,
    snakemake.params.checkpoints,
    cfg={**cfg, "device": claim_gpu(cfg["device"])},
    loss=snakemake.wildcards.loss,
    seed=snakemake.params.seed,
)
