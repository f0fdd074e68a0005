"""Losses of the metric networks: the batch-wise OT loss of the original and its baselines."""

from bwot.losses.baselines import (
    contrastive_blocks,
    lifted_blocks,
    lifted_struct_loss,
    npairs_loss,
    tf_pairwise_distance,
)
from bwot.losses.ot import (
    BLOCKS,
    BatchOTLoss,
    OTOptions,
    batch_ot_loss,
    ground_metric,
    ot_block_losses,
    sinkhorn_scalings,
    squared_distances,
    transport_plan,
)

__all__ = [
    "BLOCKS",
    "BatchOTLoss",
    "OTOptions",
    "batch_ot_loss",
    "contrastive_blocks",
    "ground_metric",
    "lifted_blocks",
    "lifted_struct_loss",
    "npairs_loss",
    "ot_block_losses",
    "sinkhorn_scalings",
    "squared_distances",
    "tf_pairwise_distance",
    "transport_plan",
]
