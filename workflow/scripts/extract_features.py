"""Snakemake entry point of rule `extract_features`: bwot.features.extract_features."""

import torch

from bwot.device import claim_gpu
from bwot.features import extract_features
from bwot.logs import setup_logging

smk = snakemake  # noqa: F821  (injected by Snakemake)
setup_logging(smk.log[0])
torch.set_num_threads(smk.threads)
extract_features(
    smk.input.model,
    smk.input.images,
    smk.output.features,
    smk.wildcards.modality,
    {**smk.params.cfg, "device": claim_gpu(smk.params.cfg["device"])},
)
