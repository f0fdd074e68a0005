"""Losses of the metric networks: the batch-wise OT loss of the original and its baselines.

Every loss is a `FourBatchLoss` registered by name in `bwot.losses.registry`. The names below are imported
on first use (PEP 562), so that reading the registry (the config check does, when the Snakefile is parsed)
does not import torch.
"""

from __future__ import annotations

from bwot.lazy import lazy_attributes

_NAMES = {  # name -> module: a table (its rows look alike by nature)
    "BLOCKS": "bwot.losses.base",
    "FourBatches": "bwot.losses.base",
    "FourBatchLoss": "bwot.losses.base",
    "LOSSES": "bwot.losses.registry",
    "build_loss": "bwot.losses.registry",
    "loss_class": "bwot.losses.registry",
    "BatchOTLoss": "bwot.losses.ot",
    "OTOptions": "bwot.losses.ot",
    "batch_ot_loss": "bwot.losses.ot",
    "ground_metric": "bwot.losses.ot",
    "ot_block_losses": "bwot.losses.ot",
    "sinkhorn_scalings": "bwot.losses.ot",
    "squared_distances": "bwot.losses.ot",
    "transport_plan": "bwot.losses.ot",
    "ContrastiveLoss": "bwot.losses.baselines",
    "LiftedStructLoss": "bwot.losses.baselines",
    "NPairLoss": "bwot.losses.baselines",
    "lifted_struct_loss": "bwot.losses.baselines",
    "npairs_loss": "bwot.losses.baselines",
    "tf_pairwise_distance": "bwot.losses.baselines",
    "TripletSemiHardLoss": "bwot.losses.triplet",
    "triplet_semihard_loss": "bwot.losses.triplet",
}
__all__ = sorted(_NAMES)
__getattr__ = lazy_attributes(__name__, _NAMES)
