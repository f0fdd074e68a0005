"""What every loss of the metric stage shares: four batches in, one value per block, their sum out.

Each training step draws two sketch batches (s1, s2) and two shape batches (p1, p2) with their labels
(`FourBatches`). A loss computes one value per block (s1,s2), (p1,p2), (s1,p1), (s2,p2) (`block_losses`,
NaN for a block it does not use) and is their sum, as in the original. A loss whose batches are drawn
another way (n-pair: one paired batch) says so by overriding `sample`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

BLOCKS = ("ss", "pp", "sp1", "sp2")  # (s1,s2), (p1,p2), (s1,p1), (s2,p2)


@dataclass(frozen=True)
class FourBatches:
    """Embeddings of two sketch and two shape batches (rows) and their labels."""

    s1: Tensor
    s2: Tensor
    p1: Tensor
    p2: Tensor
    ls1: Tensor
    ls2: Tensor
    lp1: Tensor
    lp2: Tensor

    def blocks(self) -> list[tuple[Tensor, Tensor]]:
        """The four blocks' embeddings in the order of BLOCKS."""
        return [(self.s1, self.s2), (self.p1, self.p2), (self.s1, self.p1), (self.s2, self.p2)]

    def label_blocks(self) -> list[tuple[Tensor, Tensor]]:
        """The four blocks' labels in the order of BLOCKS."""
        return [(self.ls1, self.ls2), (self.lp1, self.lp2), (self.ls1, self.lp1), (self.ls2, self.lp2)]

    def stacked(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(left, right, left labels, right labels), each (4, B, ...): one batched problem for all blocks.
        The four batches must have one size B."""
        sizes = [len(x) for x in (self.s1, self.s2, self.p1, self.p2, self.ls1, self.ls2, self.lp1, self.lp2)]
        if len(set(sizes)) != 1:
            raise ValueError(
                f"the four batches and their labels must have one size B, got {sizes[:4]} embeddings "
                f"and {sizes[4:]} labels"
            )
        left, right = zip(*self.blocks(), strict=True)
        left_labels, right_labels = zip(*self.label_blocks(), strict=True)
        return torch.stack(left), torch.stack(right), torch.stack(left_labels), torch.stack(right_labels)


class FourBatchLoss(nn.Module):
    """Base of the metric losses: `block_losses` gives the (4,) per-block values; forward sums them.

    forward(s1, s2, p1, p2, ls1, ls2, lp1, lp2) -> scalar. After each call `parts` holds the per-block
    values (detached, order of BLOCKS, NaN where a block does not apply).
    """

    name: ClassVar[str] = ""

    def __init__(self) -> None:
        super().__init__()
        self.parts: Tensor | None = None

    @classmethod
    def from_config(cls, cfg: Any) -> FourBatchLoss:
        """The loss with the hyper-parameters of a `metric:` config section (bwot.config.MetricConfig)."""
        raise NotImplementedError

    def block_losses(self, batches: FourBatches) -> Tensor:
        """The loss of each block, (4,), order of BLOCKS."""
        raise NotImplementedError

    def total(self, parts: Tensor) -> Tensor:
        """The loss from its block values: their sum (no averaging), as the original."""
        return parts.sum()

    def forward(
        self,
        s1: Tensor,
        s2: Tensor,
        p1: Tensor,
        p2: Tensor,
        ls1: Tensor,
        ls2: Tensor,
        lp1: Tensor,
        lp2: Tensor,
    ) -> Tensor:
        """The loss of the four batches (see the class docstring)."""
        parts = self.block_losses(FourBatches(s1, s2, p1, p2, ls1, ls2, lp1, lp2))
        self.parts = parts.detach()
        return self.total(parts)

    def sample(
        self, rng: np.random.Generator, sketch_labels: np.ndarray, shape_labels: np.ndarray, batch_size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Indices of one step's sketches (s1 then s2) and shapes (p1 then p2): independent random batches
        of `batch_size`, as the original."""
        n_sk, n_sh = len(sketch_labels), len(shape_labels)
        i = np.concatenate([random_batch(rng, n_sk, batch_size), random_batch(rng, n_sk, batch_size)])
        j = np.concatenate([random_batch(rng, n_sh, batch_size), random_batch(rng, n_sh, batch_size)])
        return i, j


def random_batch(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """`size` random indices of n items, without replacement when n allows (the original's random batches)."""
    return rng.choice(n, size=size, replace=n < size)
