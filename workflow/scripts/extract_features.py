"""Snakemake entry point of rule `extract_features`: bwot.features.extract_features."""

import torch

from bwot.device import claim_gpu
from bwot.features import extract_features
from bwot.logs import setup_logging
from bwot.workflow import full_section

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
cfg = full_section(snakemake.config, "features", snakemake.params.cfg)
extract_features(
    snakemake.input.model,
    snakemake.input.images,
    snakemake.output.features,
    snakemake.wildcards.modality,
    {**cfg, "device": claim_gpu(cfg["device"])},
)
