"""The batch-wise optimal-transport loss of Xu, Sun & Liu (CVPR 2019), as in its TensorFlow code.

For a block (a, b) of two embedding batches with labels (docs/metric.md):

    D_ij  = ||a_i - b_j||^2                       (expanded as |a_i|^2 - 2 a_i.b_j + |b_j|^2, as the original)
    Y_ij  = [label_a_i == label_b_j]
    GM    = Y * D + (1 - Y) * max(0, margin - D)   ground metric
    E     = exp(-gamma * GM)
    K     = exp(-lamb * E)                         hard pairs (large GM) get K ~ 1
    u = 1; repeat iters: v = (1/nb) / (K^T u + 1e-12); u = (1/na) / (K v + 1e-12)    (no gradient)
    T     = diag(u) K diag(v)                      K rebuilt in the graph, u and v constants
    loss  = sum_ij GM_ij * T_ij

so the gradient flows through GM directly and through K (dK/dGM = lamb * gamma * E * K), never through u, v.
`BatchOTLoss` sums four blocks (s1,s2), (p1,p2), (s1,p1), (s2,p2); their Sinkhorn sweeps run as one batched
(4, B, B) computation. Options beyond the original (`OTOptions`, all off by default) are documented there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from bwot.losses.base import FourBatches, FourBatchLoss

EPS = 1e-12  # added to the Sinkhorn denominators, as the original
NUMPY_ON_CPU = True  # run the (gradient-free) Sinkhorn sweeps of CPU tensors in numpy (see sinkhorn_scalings)


@dataclass(frozen=True)
class OTOptions:
    """Departures from the original loss; the defaults reproduce it exactly.

    log_domain: Sinkhorn on potentials f = log u, g = log v with log K = -lamb * E:
        g = log(1/nb) - logsumexp_i(f_i + log K_ij),  f = log(1/na) - logsumexp_j(log K_ij + g_j),
        T = exp(f_i + log K_ij + g_j). The same iteration without the 1e-12; stable for any lamb
        (the plain form underflows once lamb * E exceeds ~87 in float32 / ~708 in float64).
    tol: stop the sweeps early once the column marginals of diag(u) K diag(v) are within `tol` of 1/nb
        (max_j |v_j (K^T u)_j - 1/nb| < tol, checked after each sweep, all blocks together); `iters` stays
        the maximum number of sweeps. None: always `iters` sweeps (the original).
    detach_plan: use T as a constant (loss = sum GM * stopgrad(T)): the gradient flows through GM only.
    variant: "tf" (the original SHREC TensorFlow code, above) or "modelnet", the variant of the authors'
        PyTorch ModelNet code (3D-Shape-Recognition/mvcnn_optimal_transport.py): true distances
        d = sqrt(max(D, 0)), a positive margin pos_margin and squared hinges,
            GM = Y * max(0, d - pos_margin)^2 + (1 - Y) * max(0, margin - d)^2,
        and the plan from ot.sinkhorn(1/B, 1/B, E, reg=-1/lamb), i.e. K = exp(+lamb * E) (that code's sign),
        held constant (no gradient through T, whatever detach_plan says). The ModelNet code used 50
        sweeps (numItermax=50) and a softmax classification term; pass iters=50 for the former, the latter
        is not part of this loss.
    pos_margin: the positive margin of the "modelnet" variant (unused by "tf").
    """

    log_domain: bool = False
    tol: float | None = None
    detach_plan: bool = False
    variant: str = "tf"
    pos_margin: float = 0.0

    def __post_init__(self) -> None:
        if self.variant not in ("tf", "modelnet"):
            raise ValueError(f"OTOptions.variant must be 'tf' or 'modelnet', got {self.variant!r}")
        if self.tol is not None and self.tol <= 0:
            raise ValueError(f"OTOptions.tol must be positive, got {self.tol}")


def squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """||a_i - b_j||^2 of (..., na, d) and (..., nb, d), expanded as the original (may round below 0)."""
    aa = (a * a).sum(-1).unsqueeze(-1)
    bb = (b * b).sum(-1).unsqueeze(-2)
    return aa + bb - 2.0 * (a @ b.transpose(-1, -2))


def ground_metric(a: Tensor, b: Tensor, same: Tensor, margin: float, options: OTOptions) -> Tensor:
    """The ground metric GM of (a, b) given the same-label mask `same` (bool, broadcastable)."""
    sq = squared_distances(a, b)
    y = same.to(sq.dtype)
    if options.variant == "modelnet":
        d = sq.clamp_min(0).sqrt()
        return y * (d - options.pos_margin).relu().square() + (1 - y) * (margin - d).relu().square()
    return y * sq + (1 - y) * (margin - sq).relu()


def log_kernel(gm: Tensor, lamb: float, gamma: float, options: OTOptions) -> Tensor:
    """log K = -lamb * exp(-gamma * GM) (or +lamb * ... for the "modelnet" variant)."""
    sign = 1.0 if options.variant == "modelnet" else -1.0
    return sign * lamb * torch.exp(-gamma * gm)


@torch.no_grad()
def sinkhorn_scalings(log_k: Tensor, iters: int, options: OTOptions = OTOptions()) -> tuple[Tensor, Tensor]:
    """Sinkhorn scalings (u, v), shapes (..., na) and (..., nb), of K = exp(log_k) (..., na, nb).

    Uniform marginals 1/na, 1/nb; u starts at 1; each sweep updates v then u, as the original. Any leading
    dimensions are independent problems solved together. With `options.log_domain` the potentials are
    returned instead: (f, g) = (log u, log v).
    """
    na, nb = log_k.shape[-2], log_k.shape[-1]
    if options.log_domain:
        return _sinkhorn_log(log_k, iters, options.tol, na, nb)
    lead = log_k.shape[:-2]
    k = log_k.exp().reshape(-1, na, nb)
    # (1/nb) / (K^T u + eps) = 1 / (nb K^T u + nb eps): the marginals are folded into K once, so that a
    # sweep is two matrix products, two additions and two reciprocals. These are tiny: their cost is the
    # per-call overhead, which numpy has ~3x less of than torch, so CPU tensors take the numpy path.
    if k.device.type == "cpu" and NUMPY_ON_CPU:
        u, v = _sinkhorn_numpy(k.numpy(), iters, options.tol, na, nb)
        u, v = torch.from_numpy(u), torch.from_numpy(v)
    else:
        u, v = _sinkhorn_torch(k, iters, options.tol, na, nb)
    return u.reshape(*lead, na), v.reshape(*lead, nb)


def _sinkhorn_torch(k: Tensor, iters: int, tol: float | None, na: int, nb: int) -> tuple[Tensor, Tensor]:
    kt_b = (k.transpose(1, 2) * nb).contiguous()
    k_a = k * na
    eps_b = torch.full((1, 1, 1), EPS * nb, dtype=k.dtype, device=k.device)
    eps_a = torch.full((1, 1, 1), EPS * na, dtype=k.dtype, device=k.device)
    u = torch.ones(k.shape[0], na, 1, dtype=k.dtype, device=k.device)
    v = u
    for sweep in range(iters):
        v = torch.baddbmm(eps_b, kt_b, u).reciprocal_()
        u = torch.baddbmm(eps_a, k_a, v).reciprocal_()
        if tol is not None and sweep < iters - 1 and (v * torch.bmm(kt_b, u) - 1).abs().max() < tol * nb:
            break
    return u, v


def _sinkhorn_numpy(
    k: np.ndarray, iters: int, tol: float | None, na: int, nb: int
) -> tuple[np.ndarray, np.ndarray]:
    kt_b = np.ascontiguousarray(k.transpose(0, 2, 1) * nb)
    k_a = k * na
    eps_b, eps_a = k.dtype.type(EPS * nb), k.dtype.type(EPS * na)
    u = np.ones((k.shape[0], na, 1), dtype=k.dtype)
    v = u
    for sweep in range(iters):
        v = _matvec(kt_b, u)
        v += eps_b
        np.reciprocal(v, out=v)
        u = _matvec(k_a, v)
        u += eps_a
        np.reciprocal(u, out=u)
        if tol is not None and sweep < iters - 1 and np.abs(v * _matvec(kt_b, u) - 1).max() < tol * nb:
            break
    return u, v


def _matvec(m: np.ndarray, x: np.ndarray) -> np.ndarray:
    """m @ x for m (n, a, b) and x (n, b, 1), without BLAS: products, then numpy's own sum over each row.

    A BLAS picks its kernels, and with them the order of the sums, by the CPU (OpenBLAS: Haswell or Zen
    kernels on AVX2 machines, SkylakeX on AVX-512 ones), so `m @ x` has other last bits on other CPUs, and
    600 training steps turn them into other figures. Numpy's row sums do not depend on the CPU."""
    return (m * x.transpose(0, 2, 1)).sum(axis=2, keepdims=True)


def _sinkhorn_log(log_k: Tensor, iters: int, tol: float | None, na: int, nb: int) -> tuple[Tensor, Tensor]:
    f = torch.zeros(log_k.shape[:-1], dtype=log_k.dtype, device=log_k.device)
    log_a, log_b = -math.log(na), -math.log(nb)
    for sweep in range(iters):
        g = log_b - torch.logsumexp(log_k + f.unsqueeze(-1), dim=-2)
        f = log_a - torch.logsumexp(log_k + g.unsqueeze(-2), dim=-1)
        if tol is not None and sweep < iters - 1:
            col = torch.logsumexp(log_k + f.unsqueeze(-1), dim=-2) + g
            if (col.exp() - 1.0 / nb).abs().max() < tol:
                break
    return f, g


def transport_plan(log_k: Tensor, iters: int, options: OTOptions = OTOptions()) -> Tensor:
    """T = diag(u) K diag(v), with u, v from `sinkhorn_scalings` held constant and K kept in the graph."""
    s, t = sinkhorn_scalings(log_k.detach(), iters, options)
    if options.log_domain:
        plan = torch.exp(s.unsqueeze(-1) + log_k + t.unsqueeze(-2))
    else:
        plan = s.unsqueeze(-1) * log_k.exp() * t.unsqueeze(-2)
    if options.detach_plan or options.variant == "modelnet":
        plan = plan.detach()
    return plan


def ot_block_losses(
    a: Tensor,
    b: Tensor,
    labels_a: Tensor,
    labels_b: Tensor,
    *,
    margin: float,
    lamb: float,
    gamma: float = 10.0,
    iters: int = 20,
    options: OTOptions = OTOptions(),
) -> Tensor:
    """Each block's loss, batched: a (..., na, d), b (..., nb, d), labels (..., na), (..., nb) -> (...)."""
    same = labels_a.unsqueeze(-1) == labels_b.unsqueeze(-2)
    gm = ground_metric(a, b, same, margin, options)
    plan = transport_plan(log_kernel(gm, lamb, gamma, options), iters, options)
    return (gm * plan).sum((-1, -2))


# The public one-block form (docs/metric.md): the same parameters as ot_block_losses, checked for one block.
def batch_ot_loss(
    a: Tensor,
    b: Tensor,
    labels_a: Tensor,
    labels_b: Tensor,
    *,
    margin: float,
    lamb: float,
    gamma: float = 10.0,
    iters: int = 20,
    options: OTOptions = OTOptions(),
) -> Tensor:
    """The batch-wise OT loss of one block (a, b): a scalar tensor (see the module docstring).

    a: (na, d), b: (nb, d); labels: (na,), (nb,) of any comparable dtype. na and nb may differ (marginals
    1/na and 1/nb).
    """
    _check_block(a, b, labels_a, labels_b)
    return ot_block_losses(
        a, b, labels_a, labels_b, margin=margin, lamb=lamb, gamma=gamma, iters=iters, options=options
    )


def _check_block(a: Tensor, b: Tensor, labels_a: Tensor, labels_b: Tensor) -> None:
    problems = []
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        problems.append(f"embeddings must be (na, d) and (nb, d), got {tuple(a.shape)} and {tuple(b.shape)}")
    if labels_a.shape != a.shape[:1] or labels_b.shape != b.shape[:1]:
        problems.append(
            f"labels must be ({a.shape[0]},) and ({b.shape[0]},), got {tuple(labels_a.shape)} and "
            f"{tuple(labels_b.shape)}"
        )
    if problems:
        raise ValueError("batch_ot_loss: " + "; ".join(problems))


class BatchOTLoss(FourBatchLoss):
    """The original's loss: the sum (no averaging) of the batch-wise OT losses of four blocks.

    forward(s1, s2, p1, p2, ls1, ls2, lp1, lp2) -> scalar; blocks (s1,s2), (p1,p2), (s1,p1), (s2,p2). The four
    batches must have the same size B (the four blocks are stacked into one (4, B, B) problem). After each
    call `self.parts` holds the four block losses (detached, order of `BLOCKS`).
    """

    name = "ot"

    def __init__(
        self,
        margin: float,
        lamb: float,
        gamma: float = 10.0,
        iters: int = 20,
        options: OTOptions = OTOptions(),
    ) -> None:
        super().__init__()
        self.margin, self.lamb, self.gamma, self.iters, self.options = margin, lamb, gamma, iters, options

    @classmethod
    def from_config(cls, cfg: Any) -> BatchOTLoss:
        """margin, lamb, gamma, sinkhorn_iters and the OTOptions keys of a `metric:` section."""
        options = OTOptions(
            log_domain=cfg.sinkhorn_log_domain, tol=cfg.sinkhorn_tol, detach_plan=cfg.detach_plan
        )
        return cls(cfg.margin, cfg.lamb, cfg.gamma, cfg.sinkhorn_iters, options)

    def block_losses(self, batches: FourBatches) -> Tensor:
        """The four block losses as a (4,) tensor, order (s1,s2), (p1,p2), (s1,p1), (s2,p2)."""
        return ot_block_losses(
            *batches.stacked(),
            margin=self.margin,
            lamb=self.lamb,
            gamma=self.gamma,
            iters=self.iters,
            options=self.options,
        )
