"""Snakemake entry point of rule `train_backbone`: bwot.features.train_backbone."""

import torch

from bwot.device import claim_gpu
from bwot.features import train_backbone
from bwot.logs import setup_logging

smk = snakemake  # noqa: F821  (injected by Snakemake)
setup_logging(smk.log[0])
torch.set_num_threads(smk.threads)
train_backbone(
    smk.input.images,
    smk.output.model,
    smk.output.history,
    smk.wildcards.modality,
    {**smk.params.cfg, "device": claim_gpu(smk.params.cfg["device"])},
    seed=smk.params.seed,
)
