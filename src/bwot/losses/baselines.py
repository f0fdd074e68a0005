"""The original's baseline losses, cross-modal, with the semantics of its TensorFlow code.

- contrastive: `tf.reduce_mean(GM_ss + GM_pp + GM_sp1 + GM_sp2)` = the sum over the four blocks of the mean of
  the ground metric GM (ot.py) of each block: squared distance for positives, max(0, margin - D) for
  negatives.
- lifted structured (Song et al. 2016): per block (a, b), TF's `lifted_struct_loss` on the concatenation
  [a; b] with labels [la; lb] (the original concatenated each block's two batches), summed over the blocks:
      d = Euclidean distances (d = 0 where the squared distance <= 0),
      J_ij = log( sum_{k: y_k != y_i} exp(margin - d_ik) + sum_{l: y_l != y_j} exp(margin - d_jl) ) + d_ij,
      loss = 1 / (2 |P|) * sum_{(i<j) in P} max(0, J_ij)^2,  P = pairs of the same label.
  Where TF would return NaN (no positive pair) this returns 0; a pair with no negatives has J = -inf -> 0.
- n-pair (Sohn 2016): TF's `npairs_loss(labels, anchor, positive, reg_lambda)`:
      reg = reg_lambda / 4 * (mean_i |a_i|^2 + mean_j |p_j|^2),
      S = a p^T,  target_ij = [y_i == y_j] / sum_j [y_i == y_j],  loss = reg + mean_i CE(S_i, target_i).
  The original applied it once per step to a paired batch (sketch anchors, shapes of the same classes as
  positives); `npairs_loss` also accepts different labels for a and p (target from la_i == lp_j; rows with
  no positive are left out of the mean).

pytorch-metric-learning was checked (2.9.0): its LiftedStructureLoss without `ref_emb` and LpDistance
(normalize_embeddings=False) equals TF's loss whenever every positive pair has a negative (tests compare
them); with `ref_emb` it is wrong across modalities (it picks the negatives of a positive pair (i, j) by
comparing query indices with reference indices, `a2 == p`, so j's negatives are those of the query
that happens to have j's index). Its NPairsLoss keeps one positive pair per label and has no L2 term (TF
keeps all pairs with soft targets). Hence these are written here; tests compare with naive loops and PML.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from bwot.losses.base import FourBatches, FourBatchLoss
from bwot.losses.ot import OTOptions, ground_metric


class MarginLoss(FourBatchLoss):
    """A four-batch loss whose one hyper-parameter is the margin of the negatives."""

    def __init__(self, margin: float) -> None:
        super().__init__()
        self.margin = margin

    @classmethod
    def from_config(cls, cfg: Any) -> MarginLoss:
        """The `margin` of a `metric:` section."""
        return cls(cfg.margin)


class ContrastiveLoss(MarginLoss):
    """The contrastive baseline: per block the mean of the ground metric GM (ot.py); their sum."""

    name = "contrastive"

    def block_losses(self, batches: FourBatches) -> Tensor:
        """The mean of GM of each block, (4,)."""
        left, right, left_labels, right_labels = batches.stacked()
        same = left_labels.unsqueeze(-1) == right_labels.unsqueeze(-2)
        return ground_metric(left, right, same, self.margin, OTOptions()).mean((-1, -2))


def tf_pairwise_distance(x: Tensor, squared: bool = False) -> Tensor:
    """TF's `pairwise_distance(x, squared)` over the last two dims, (..., n, d) -> (..., n, n): Euclidean
    (squared Euclidean if `squared`) from the squared norms and x x^T, clamped at 0; 0 (0 gradient) where the
    squared distance is <= 0 and on the diagonal."""
    sq = (x * x).sum(-1, keepdim=True) + (x * x).sum(-1).unsqueeze(-2) - 2.0 * (x @ x.transpose(-1, -2))
    sq = sq.clamp_min(0.0)
    zero = sq <= 0
    # the sqrt is taken at 1e-16 where the squared distance is 0, so that its gradient is finite (and masked)
    d = sq if squared else torch.sqrt(sq + zero.to(sq.dtype) * 1e-16)
    d = d * (~zero).to(sq.dtype)
    return d * (1.0 - torch.eye(x.shape[-2], dtype=d.dtype, device=d.device))


def lifted_struct_loss(labels: Tensor, embeddings: Tensor, margin: float = 1.0) -> Tensor:
    """TF's `lifted_struct_loss(labels, embeddings, margin)` (formula in the module docstring)."""
    n = len(labels)
    d = tf_pairwise_distance(embeddings)
    same = labels.unsqueeze(1) == labels.unsqueeze(0)
    # log sum_{k neg of i} exp(margin - d_ik), -inf for a row without negatives
    row = torch.logsumexp((margin - d).masked_fill(same, float("-inf")), dim=1)
    j = torch.logaddexp(row.unsqueeze(1), row.unsqueeze(0)) + d
    pos = same & ~torch.eye(n, dtype=torch.bool, device=labels.device)
    n_pos = pos.sum()
    # no positive pair: every term is 0 (and n_pos is taken as 1); no negative at all: row = -inf, so
    # every J is -inf and clamps to 0. Both give 0 without a branch on a device value (no host sync).
    terms = torch.where(pos, j, torch.zeros_like(j)).clamp_min(0.0).square()
    return 0.25 * terms.sum() / (n_pos.clamp_min(1) / 2.0)


class LiftedStructLoss(MarginLoss):
    """The lifted structured baseline: per block TF's loss of the two batches concatenated; their sum."""

    name = "lifted"

    def block_losses(self, batches: FourBatches) -> Tensor:
        """The lifted structured loss of each block, (4,)."""
        return torch.stack(
            [
                lifted_struct_loss(torch.cat(labels), torch.cat(emb), self.margin)
                for emb, labels in zip(batches.blocks(), batches.label_blocks(), strict=True)
            ]
        )


def npairs_loss(
    labels_anchor: Tensor,
    anchor: Tensor,
    positive: Tensor,
    reg_lambda: float = 2e-4,
    labels_positive: Tensor | None = None,
) -> Tensor:
    """TF's `npairs_loss` (module docstring); `labels_positive` defaults to `labels_anchor` (paired)."""
    lp = labels_anchor if labels_positive is None else labels_positive
    reg = 0.25 * reg_lambda * ((anchor * anchor).sum(1).mean() + (positive * positive).sum(1).mean())
    logits = anchor @ positive.T
    target = (labels_anchor.unsqueeze(1) == lp.unsqueeze(0)).to(logits.dtype)
    counts = target.sum(1, keepdim=True)
    keep = counts.squeeze(1) > 0
    xent = -(target / counts.clamp_min(1) * torch.log_softmax(logits, dim=1)).sum(1)
    # the mean over the rows with a positive (a row without one has xent 0), without a branch or a
    # boolean index on a device value (no host sync); no such row at all: reg alone
    return reg + torch.where(keep, xent, 0.0).sum() / keep.sum().clamp_min(1)


class NPairLoss(FourBatchLoss):
    """The n-pair baseline as the original trained it: one paired batch per step (B sketches of distinct
    classes as anchors, a shape of the same class each as positives: s1 and p1; s2 and p2 are empty), the
    loss in block (s1, p1); the other blocks are NaN."""

    name = "npair"

    def __init__(self, reg_lambda: float = 2e-4) -> None:
        super().__init__()
        self.reg_lambda = reg_lambda
        self._groups: tuple[Any, ...] | None = None  # label arrays -> classes, indices per class

    @classmethod
    def from_config(cls, cfg: Any) -> NPairLoss:
        """The `npair_reg` of a `metric:` section."""
        return cls(cfg.npair_reg)

    def block_losses(self, batches: FourBatches) -> Tensor:
        """(NaN, NaN, n-pair loss of (s1, p1), NaN)."""
        value = npairs_loss(batches.ls1, batches.s1, batches.p1, self.reg_lambda, batches.lp1)
        nan = torch.full((), float("nan"), dtype=value.dtype, device=value.device)
        return torch.stack([nan, nan, value, nan])

    def total(self, parts: Tensor) -> Tensor:
        """The loss of the one block it uses."""
        return parts[2]

    def sample(
        self, rng: np.random.Generator, sketch_labels: np.ndarray, shape_labels: np.ndarray, batch_size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """One paired batch: classes drawn without repetition (a new permutation when batch_size exceeds the
        classes), then one random sketch and one random shape of each."""
        classes, sketches, shapes = self._class_indices(sketch_labels, shape_labels)
        if not len(classes):
            raise ValueError(
                "npair: no class has both training sketches and target models: nothing to pair "
                f"(sketch classes {np.unique(sketch_labels).tolist()[:10]}, "
                f"shape classes {np.unique(shape_labels).tolist()[:10]})"
            )
        reps = -(-batch_size // len(classes))
        drawn = np.concatenate([rng.permutation(classes) for _ in range(reps)])[:batch_size]
        at = np.searchsorted(classes, drawn)
        # one random member of each drawn class: rng.choice(members) draws rng.integers(0, len(members))
        # (int64), and so, element by element and in order, does one rng.integers with an array of bounds
        return sketches.pick(rng, at), shapes.pick(rng, at)

    def _class_indices(
        self, sketch_labels: np.ndarray, shape_labels: np.ndarray
    ) -> tuple[np.ndarray, ClassMembers, ClassMembers]:
        """The classes both modalities have and the members of each, found once per pair of label arrays
        (the trainer passes the same arrays every step; scanning the ~145k SHREC'14 sketch samples per
        class and step took 13 ms a step)."""
        cached = self._groups
        if cached is None or cached[0] is not sketch_labels or cached[1] is not shape_labels:
            classes = np.intersect1d(sketch_labels, shape_labels)
            groups = ClassMembers(sketch_labels, classes), ClassMembers(shape_labels, classes)
            self._groups = cached = (sketch_labels, shape_labels, classes, *groups)
        return cached[2], cached[3], cached[4]


class ClassMembers:
    """The indices of each class's items, grouped: class k's are
    members[starts[k] : starts[k] + counts[k]], in increasing order (np.flatnonzero(labels == classes[k]))."""

    def __init__(self, labels: np.ndarray, classes: np.ndarray) -> None:
        groups = [np.flatnonzero(labels == c) for c in classes]
        self.counts = np.array([len(g) for g in groups], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)
        self.members = np.concatenate(groups) if groups else np.zeros(0, dtype=np.int64)

    def pick(self, rng: np.random.Generator, at: np.ndarray) -> np.ndarray:
        """One random member of each class number in `at`, drawn in order."""
        return self.members[self.starts[at] + rng.integers(0, self.counts[at], dtype=np.int64)]
