"""Snakemake entry point of rule `train_backbone`: bwot.features.train_backbone."""

import torch

from bwot.device import claim_gpu
from bwot.features import train_backbone
from bwot.logs import setup_logging
from bwot.workflow import full_section

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
cfg = full_section(snakemake.config, "features", snakemake.params.cfg)
train_backbone(
    snakemake.input.images,
    snakemake.output.model,
    snakemake.output.history,
    snakemake.wildcards.modality,
    {**cfg, "device": claim_gpu(cfg["device"])},
    seed=snakemake.params.seed,
    summary_path=snakemake.output.summary,
    extra_views=snakemake.input.extra,
)
