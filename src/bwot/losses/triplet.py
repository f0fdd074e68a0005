"""The triplet loss with semi-hard negative mining (Schroff et al. 2015), cross-modal, with TF's semantics.

Per block (a, b), TF's `triplet_semihard_loss` on the concatenation [a; b] with labels [la; lb] (as lifted),
summed over the four blocks:
    D = squared Euclidean distances (clamped at 0, zero diagonal: TF's `pairwise_distance(squared=True)`),
    for each positive pair (i, p), i != p, y_i = y_p, the negative n(i, p) is
        argmin_{k: y_k != y_i, D_ik > D_ip} D_ik   (semi-hard: the nearest negative beyond the positive),
        argmax_{k: y_k != y_i} D_ik                (if there is none: the farthest negative),
    loss = 1 / |P| * sum_{(i, p) in P} max(0, margin + D_ip - D_i,n(i,p)),  P = ordered positive pairs.
Degenerate cases follow TF's masked minimum / maximum arithmetic (max over a masked row = max of
(D - row minimum) * mask + row minimum): an anchor without any negative (the whole batch of its label) gets
its row's minimum, D_ii = 0, so its terms are margin + D_ip. Where TF would return NaN (no positive pair)
this returns 0.

Memory O(n^2) per block (TF's own code builds an n x n x n mask): each anchor's negatives are sorted once,
and the semi-hard negative of (i, p) is the first of them beyond D_ip (a binary search, `searchsorted`).
Ties: the value does not depend on which of several equally distant negatives is chosen; the gradient of a
semi-hard negative goes to one of them (the lowest index), where TF's reduce_min splits it among them; the
fallback's ties split the gradient as TF's reduce_max (torch's amax) does.

pytorch-metric-learning (2.9.0) keeps one positive per anchor (BatchEasyHardMiner) or all triplets in the
margin (TripletMarginMiner), drops anchors without a semi-hard negative and averages over triplets; it equals
this loss only when each anchor has exactly one positive and a semi-hard negative (tests compare them).
"""

from __future__ import annotations

import torch
from torch import Tensor

from bwot.losses.base import FourBatches
from bwot.losses.baselines import MarginLoss, tf_pairwise_distance


def triplet_semihard_loss(labels: Tensor, embeddings: Tensor, margin: float = 1.0) -> Tensor:
    """TF's `triplet_semihard_loss(labels, embeddings, margin)` (module docstring): labels (..., n),
    embeddings (..., n, d) -> (...). Memory O(n^2): sorted negatives per anchor and a binary search per
    (anchor, positive), no (..., n, n, n) mask."""
    n = labels.shape[-1]
    d = tf_pairwise_distance(embeddings, squared=True)  # (..., anchor, k)
    same = labels.unsqueeze(-1) == labels.unsqueeze(-2)
    neg = ~same
    # each anchor's negatives in ascending distance (the others last, at +inf); the stable sort puts equal
    # distances in index order. Only the order is needed: no gradient through the sort.
    plain = d.detach()
    ranked, order = torch.sort(plain.masked_fill(same, float("inf")), dim=-1, stable=True)
    # (i, p): the number of negatives with D_ik <= D_ip, i.e. the rank of the first negative beyond D_ip (the
    # semi-hard one, argmin_{k neg, D_ik > D_ip} D_ik) if it is below the anchor's count of negatives
    first = torch.searchsorted(ranked, plain, right=True)  # (..., i, p)
    semihard = first < neg.sum(-1, keepdim=True)
    # gather from d (not from the sorted copy) so that the gradient reaches the chosen D_ik; the index is
    # clamped where there is no semi-hard negative (that value is not used: the fallback is)
    chosen = d.gather(-1, order.gather(-1, first.clamp_max(n - 1)))
    # TF's masked_minimum of row i: min_k((D_ik - max_k D_ik) * mask) + max_k D_ik = (D_in - max) + max, the
    # same rounding; its gradient through the row maximum is 1 - 1 = 0, so the maximum is taken detached.
    # Ties: amin split the gradient among negatives at the same distance; here it goes to the first (lowest
    # index) of them. The value is the same.
    row_max = plain.amax(-1, keepdim=True)  # (..., i, 1)
    outside = (chosen - row_max) + row_max  # (..., i, p)
    # TF's masked_maximum: max_k((D_ik - min_k D_ik) * [k negative]) + min_k D_ik; the row minimum without
    # negatives
    row_min = d.amin(-1, keepdim=True)  # (..., i, 1)
    inside = ((d - row_min) * neg.to(d.dtype)).amax(-1, keepdim=True) + row_min
    negative = torch.where(semihard, outside, inside)
    pos = same & ~torch.eye(n, dtype=torch.bool, device=labels.device)
    terms = ((margin + (d - negative)) * pos.to(d.dtype)).clamp_min(0.0)
    # no positive pair: every term is 0 and the count is taken as 1, so 0 without a branch (no host sync)
    return terms.sum((-1, -2)) / pos.sum((-1, -2)).clamp_min(1).to(d.dtype)


class TripletSemiHardLoss(MarginLoss):
    """The triplet baseline: per block TF's semi-hard triplet loss of the two batches concatenated; their
    sum."""

    name = "triplet"

    def block_losses(self, batches: FourBatches) -> Tensor:
        """The semi-hard triplet loss of each block, (4,), the four blocks as one batched problem."""
        left, right, left_labels, right_labels = batches.stacked()
        labels = torch.cat([left_labels, right_labels], dim=-1)
        return triplet_semihard_loss(labels, torch.cat([left, right], dim=-2), self.margin)
