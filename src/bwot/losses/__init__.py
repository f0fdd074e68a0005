"""Losses of the metric networks: the batch-wise OT loss of the original and its baselines.

Every loss is a `FourBatchLoss` registered by name in `bwot.losses.registry`. The names below are imported
on first use (PEP 562), so that reading the registry (the config check does, when the Snakefile is parsed)
does not import torch.
"""

from __future__ import annotations

from bwot.lazy import lazy_package

__getattr__, __all__ = lazy_package(
    __name__,
    {  # module -> the names it gives this package
        "base": ("BLOCKS", "FourBatches", "FourBatchLoss"),
        "registry": ("LOSSES", "build_loss", "loss_class"),
        "ot": (
            "BatchOTLoss",
            "OTOptions",
            "batch_ot_loss",
            "ground_metric",
            "ot_block_losses",
            "sinkhorn_scalings",
            "squared_distances",
            "transport_plan",
        ),
        "baselines": (
            "ContrastiveLoss",
            "LiftedStructLoss",
            "NPairLoss",
            "lifted_struct_loss",
            "npairs_loss",
            "tf_pairwise_distance",
        ),
        "triplet": ("TripletSemiHardLoss", "triplet_semihard_loss"),
    },
)
