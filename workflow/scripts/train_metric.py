"""Snakemake entry point of rule `train_metric`: one loss, resuming from its checkpoints folder."""

import torch

from bwot.device import claim_gpu
from bwot.logs import setup_logging
from bwot.metric import train_metric

setup_logging(snakemake.log[0])  # noqa: F821
torch.set_num_threads(snakemake.threads)  # noqa: F821
train_metric(
    snakemake.input.shapes,  # noqa: F821
    snakemake.input.sketches,  # noqa: F821
    snakemake.output.model,  # noqa: F821
    snakemake.output.history,  # noqa: F821
    snakemake.params.checkpoints,  # noqa: F821
    cfg={**snakemake.params.cfg, "device": claim_gpu(snakemake.params.cfg["device"])},  # noqa: F821
    loss=snakemake.wildcards.loss,  # noqa: F821
    seed=snakemake.params.seed,  # noqa: F821
)
