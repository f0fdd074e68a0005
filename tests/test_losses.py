"""Losses against independent naive float64 transcriptions (loops, numpy) of docs/metric.md and the TF
baselines."""

from __future__ import annotations

import math
import os
import platform
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import DEVICES

import bwot.losses.ot as ot_module
from bwot.config import MetricConfig
from bwot.losses import (
    LOSSES,
    BatchOTLoss,
    ContrastiveLoss,
    FourBatches,
    FourBatchLoss,
    LiftedStructLoss,
    NPairLoss,
    OTOptions,
    TripletSemiHardLoss,
    batch_ot_loss,
    build_loss,
    lifted_struct_loss,
    loss_class,
    npairs_loss,
    transport_plan,
    triplet_semihard_loss,
)

# the losses that sum their four blocks (n-pair uses one block of a paired batch: its own `total`)
SUMMED = [name for name in LOSSES if loss_class(name).total is FourBatchLoss.total]


# ---------------------------------------------------------------- naive references (float64, loops)
def naive_gm(a, b, la, lb, margin):
    gm = np.zeros((len(a), len(b)))
    same = np.zeros_like(gm)
    for i in range(len(a)):
        for j in range(len(b)):
            d = sum((a[i, k] - b[j, k]) ** 2 for k in range(a.shape[1]))
            same[i, j] = la[i] == lb[j]
            gm[i, j] = d if same[i, j] else max(0.0, margin - d)
    return gm, same


def naive_sinkhorn(kmat, iters):
    na, nb = kmat.shape
    u = np.ones(na)
    v = np.ones(nb)
    for _ in range(iters):
        v = np.array([(1 / nb) / (sum(kmat[i, j] * u[i] for i in range(na)) + 1e-12) for j in range(nb)])
        u = np.array([(1 / na) / (sum(kmat[i, j] * v[j] for j in range(nb)) + 1e-12) for i in range(na)])
    return u, v


def naive_ot(a, b, la, lb, margin, lamb, gamma, iters, detach=False):
    """Loss and its gradient w.r.t. a and b with u, v held constant (the original's gradient)."""
    gm, same = naive_gm(a, b, la, lb, margin)
    e = np.exp(-gamma * gm)
    kmat = np.exp(-lamb * e)
    u, v = naive_sinkhorn(kmat, iters)
    t = u[:, None] * kmat * v[None, :]
    loss = float((gm * t).sum())
    # dL/dGM = T + GM * dT/dGM,  dT/dGM = u K v * lamb * gamma * E
    dgm = t if detach else t + gm * t * lamb * gamma * e
    ga, gb = np.zeros_like(a), np.zeros_like(b)
    for i in range(len(a)):
        for j in range(len(b)):
            d = ((a[i] - b[j]) ** 2).sum()
            dd = 1.0 if same[i, j] else (-1.0 if margin - d > 0 else 0.0)
            g = dgm[i, j] * dd * 2 * (a[i] - b[j])
            ga[i] += g
            gb[j] -= g
    return loss, ga, gb, t


def _case(na, nb, dim, labels, seed, scale=0.3):
    rng = np.random.default_rng(seed)
    a, b = scale * rng.normal(size=(na, dim)), scale * rng.normal(size=(nb, dim))
    if labels == "same":
        la, lb = np.zeros(na, int), np.zeros(nb, int)
    elif labels == "different":
        la, lb = np.arange(na), np.arange(na, na + nb)
    else:
        la, lb = rng.integers(0, 3, na), rng.integers(0, 3, nb)
    return a, b, la, lb


def _ours(a, b, la, lb, dtype=torch.float64, device="cpu", **kw):
    ta = torch.tensor(a, dtype=dtype, device=device, requires_grad=True)
    tb = torch.tensor(b, dtype=dtype, device=device, requires_grad=True)
    loss = batch_ot_loss(ta, tb, torch.tensor(la, device=device), torch.tensor(lb, device=device), **kw)
    loss.backward()
    return loss.item(), ta.grad.cpu().numpy(), tb.grad.cpu().numpy()


# ---------------------------------------------------------------- the OT loss
@pytest.mark.parametrize("na,nb", [(1, 1), (2, 2), (5, 5), (8, 8), (4, 7)])
@pytest.mark.parametrize("labels", ["random", "same", "different"])
@pytest.mark.parametrize("use_numpy", [True, False])
def test_ot_loss_and_gradient_match_naive(na, nb, labels, use_numpy, monkeypatch):
    monkeypatch.setattr(ot_module, "NUMPY_ON_CPU", use_numpy)
    a, b, la, lb = _case(na, nb, 3, labels, seed=na * 10 + nb)
    ref = naive_ot(a, b, la, lb, margin=1.0, lamb=10.0, gamma=10.0, iters=20)
    loss, ga, gb = _ours(a, b, la, lb, margin=1.0, lamb=10.0)
    assert loss == pytest.approx(ref[0], rel=1e-10, abs=1e-13)
    np.testing.assert_allclose(ga, ref[1], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(gb, ref[2], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_ot_float32_close_to_float64_reference(device):
    a, b, la, lb = _case(30, 30, 10, "random", seed=3)
    ref = naive_ot(a, b, la, lb, margin=1.0, lamb=10.0, gamma=10.0, iters=20)
    loss, ga, _ = _ours(a, b, la, lb, dtype=torch.float32, device=device, margin=1.0, lamb=10.0)
    assert loss == pytest.approx(ref[0], rel=1e-4)
    np.testing.assert_allclose(ga, ref[1], rtol=1e-3, atol=1e-5)


def test_other_parameters_match_naive():
    a, b, la, lb = _case(6, 6, 4, "random", seed=5, scale=0.5)
    ref = naive_ot(a, b, la, lb, margin=2.5, lamb=3.0, gamma=2.0, iters=7)
    loss, ga, _ = _ours(a, b, la, lb, margin=2.5, lamb=3.0, gamma=2.0, iters=7)
    assert loss == pytest.approx(ref[0], rel=1e-10)
    np.testing.assert_allclose(ga, ref[1], rtol=1e-8, atol=1e-12)


def test_detached_plan_gradient_is_through_gm_only():
    a, b, la, lb = _case(5, 5, 3, "random", seed=7)
    ref = naive_ot(a, b, la, lb, 1.0, 10.0, 10.0, 20, detach=True)
    loss, ga, gb = _ours(a, b, la, lb, margin=1.0, lamb=10.0, options=OTOptions(detach_plan=True))
    assert loss == pytest.approx(ref[0], rel=1e-10)
    np.testing.assert_allclose(ga, ref[1], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(gb, ref[2], rtol=1e-8, atol=1e-12)
    full = naive_ot(a, b, la, lb, 1.0, 10.0, 10.0, 20)
    assert not np.allclose(ga, full[1])


def _four(b, dim, seed, dtype=torch.float64, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    xs = [(0.3 * torch.randn(b, dim, generator=g, dtype=dtype)).to(device).requires_grad_() for _ in range(4)]
    ls = [torch.randint(0, 4, (b,), generator=g).to(device) for _ in range(4)]
    return xs, ls


@pytest.mark.parametrize("device", DEVICES)
def test_batch_ot_loss_module_sums_the_four_blocks(device):
    (s1, s2, p1, p2), (ls1, ls2, lp1, lp2) = _four(9, 5, seed=1, device=device)
    crit = BatchOTLoss(margin=1.0, lamb=10.0)
    total = crit(s1, s2, p1, p2, ls1, ls2, lp1, lp2)
    grads = torch.autograd.grad(total, [s1, s2, p1, p2])
    pairs = [(s1, s2, ls1, ls2), (p1, p2, lp1, lp2), (s1, p1, ls1, lp1), (s2, p2, ls2, lp2)]
    parts = [batch_ot_loss(x, y, lx, ly, margin=1.0, lamb=10.0) for x, y, lx, ly in pairs]
    expect = sum(parts)
    assert total.item() == pytest.approx(expect.item(), rel=1e-12)
    torch.testing.assert_close(crit.parts, torch.stack(parts).detach())
    for got, want in zip(grads, torch.autograd.grad(expect, [s1, s2, p1, p2]), strict=True):
        torch.testing.assert_close(got, want)


def test_batch_ot_loss_module_requires_one_batch_size():
    (s1, s2, p1, p2), (ls1, ls2, lp1, lp2) = _four(4, 3, seed=0)
    with pytest.raises(ValueError, match="one size B"):
        BatchOTLoss(1.0, 10.0)(s1, s2[:3], p1, p2, ls1, ls2[:3], lp1, lp2)


def test_bad_shapes_are_reported():
    with pytest.raises(ValueError, match=r"embeddings must be .*labels must be"):
        batch_ot_loss(torch.zeros(3, 2), torch.zeros(3, 4), torch.zeros(2), torch.zeros(3), margin=1, lamb=1)


@pytest.mark.parametrize("options", [OTOptions(), OTOptions(log_domain=True)])
def test_plan_marginals_after_enough_sweeps(options):
    g = torch.Generator().manual_seed(0)
    gm = torch.rand(3, 12, 12, generator=g, dtype=torch.float64) * 1.5
    log_k = -10.0 * torch.exp(-10.0 * gm)
    plan = transport_plan(log_k, 300, options)
    torch.testing.assert_close(plan.sum(-1), torch.full((3, 12), 1 / 12, dtype=torch.float64))
    torch.testing.assert_close(plan.sum(-2), torch.full((3, 12), 1 / 12, dtype=torch.float64))
    # unequal sizes: marginals 1/na and 1/nb
    plan = transport_plan(log_k[:, :5, :], 300, options)
    torch.testing.assert_close(plan.sum(-1), torch.full((3, 5), 1 / 5, dtype=torch.float64))
    torch.testing.assert_close(plan.sum(-2), torch.full((3, 12), 1 / 12, dtype=torch.float64))


def test_log_domain_equals_plain_and_survives_large_lamb():
    a, b, la, lb = _case(8, 8, 3, "random", seed=11)
    plain = _ours(a, b, la, lb, margin=1.0, lamb=10.0)
    logd = _ours(a, b, la, lb, margin=1.0, lamb=10.0, options=OTOptions(log_domain=True))
    assert logd[0] == pytest.approx(plain[0], rel=1e-9)
    np.testing.assert_allclose(logd[1], plain[1], rtol=1e-7, atol=1e-12)
    # lamb = 500 in float32 with one label: every pair is positive and near (E ~ 1), K = exp(-500) underflows
    # to 0 and the plain sweeps break down (zero plan); the log domain keeps the marginals
    ta = torch.tensor(a, dtype=torch.float32) * 0.01
    tb = torch.tensor(b, dtype=torch.float32) * 0.01
    same = torch.ones(8, 8, dtype=torch.bool)
    log_k = -500.0 * torch.exp(-10.0 * ot_module.ground_metric(ta, tb, same, 1.0, OTOptions()))
    plan = transport_plan(log_k, 20, OTOptions(log_domain=True))
    torch.testing.assert_close(plan.sum(-1), torch.full((8,), 1 / 8))
    torch.testing.assert_close(plan.sum(-2), torch.full((8,), 1 / 8), atol=2e-3, rtol=0)
    plain_plan = transport_plan(log_k, 20, OTOptions())
    assert plain_plan.sum() < 1e-3


@pytest.mark.parametrize("log_domain", [False, True])
def test_tolerance_stops_early_at_the_converged_plan(log_domain, monkeypatch):
    g = torch.Generator().manual_seed(2)
    log_k = -10.0 * torch.exp(-10.0 * torch.rand(4, 10, 10, generator=g, dtype=torch.float64))
    full = transport_plan(log_k, 2000, OTOptions(log_domain=log_domain))
    early = transport_plan(log_k, 2000, OTOptions(log_domain=log_domain, tol=1e-10))
    torch.testing.assert_close(early, full, atol=1e-9, rtol=0)
    if not log_domain:  # count the sweeps of the torch path: far fewer than the maximum
        monkeypatch.setattr(ot_module, "NUMPY_ON_CPU", False)
        calls = []
        real = torch.baddbmm
        monkeypatch.setattr(torch, "baddbmm", lambda *a, **k: calls.append(1) or real(*a, **k))
        again = transport_plan(log_k, 2000, OTOptions(tol=1e-10))
        torch.testing.assert_close(again, early)
        assert 0 < len(calls) < 2 * 2000 / 4


def test_modelnet_variant_matches_pot_and_its_formula():
    ot = pytest.importorskip("ot")
    a, b, la, lb = _case(6, 6, 3, "random", seed=4, scale=1.0)
    margin, pos_margin, lamb = 3.0, 0.5, 0.5
    opts = OTOptions(variant="modelnet", pos_margin=pos_margin)
    loss, ga, _ = _ours(a, b, la, lb, margin=margin, lamb=lamb, iters=50, options=opts)
    # naive: true distances, squared hinges, plan from POT with reg = -1/lamb, held constant
    gm = np.zeros((6, 6))
    for i in range(6):
        for j in range(6):
            d = math.sqrt(((a[i] - b[j]) ** 2).sum())
            gm[i, j] = max(0, d - pos_margin) ** 2 if la[i] == lb[j] else max(0, margin - d) ** 2
    w = np.full(6, 1 / 6)
    plan = ot.sinkhorn(w, w, np.exp(-10 * gm), -1 / lamb, numItermax=50, stopThr=0.0)
    assert loss == pytest.approx(float((gm * plan).sum()), rel=1e-8)
    ga_ref = np.zeros_like(a)
    for i in range(6):
        for j in range(6):
            d = math.sqrt(((a[i] - b[j]) ** 2).sum())
            if la[i] == lb[j]:
                dgd = 2 * max(0, d - pos_margin)
            else:
                dgd = -2 * max(0, margin - d)
            ga_ref[i] += plan[i, j] * dgd * (a[i] - b[j]) / d
    np.testing.assert_allclose(ga, ga_ref, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("name", SUMMED)
def test_loss_falls_on_a_toy_problem(name):
    torch.manual_seed(0)
    labels = [torch.arange(12) % 4 for _ in range(4)]
    emb = [torch.nn.Parameter(0.3 * torch.randn(12, 8)) for _ in range(4)]
    opt = torch.optim.SGD(emb, lr=0.05, momentum=0.9)
    crit = build_loss(name, MetricConfig())  # margin 1, lamb 10
    first = None
    for _ in range(150):
        loss = crit(*emb, *labels)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first


# ---------------------------------------------------------------- baselines against naive loops
def naive_lifted(labels, x, margin):
    n = len(labels)
    d = np.array([[math.sqrt(((x[i] - x[j]) ** 2).sum()) for j in range(n)] for i in range(n)])
    total, n_pairs = 0.0, 0
    for i in range(n):
        for j in range(i + 1, n):
            if labels[i] != labels[j]:
                continue
            n_pairs += 1
            s = sum(math.exp(margin - d[i, k]) for k in range(n) if labels[k] != labels[i])
            s += sum(math.exp(margin - d[j, k]) for k in range(n) if labels[k] != labels[j])
            jij = (math.log(s) + d[i, j]) if s > 0 else -math.inf
            total += max(0.0, jij) ** 2
    return total / (2 * n_pairs) if n_pairs else 0.0


def naive_npairs(la, anchor, positive, reg, lp=None):
    lp = la if lp is None else lp
    n = len(la)
    regv = 0.25 * reg * (np.mean([(x**2).sum() for x in anchor]) + np.mean([(x**2).sum() for x in positive]))
    xents = []
    for i in range(n):
        logits = [float(anchor[i] @ positive[j]) for j in range(len(positive))]
        m = max(logits)
        lse = m + math.log(sum(math.exp(z - m) for z in logits))
        pos = [j for j in range(len(positive)) if la[i] == lp[j]]
        if pos:
            xents.append(-sum((logits[j] - lse) / len(pos) for j in pos))
    return regv + (np.mean(xents) if xents else 0.0)


def _t(x):
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_contrastive_matches_naive(seed):
    (s1, s2, p1, p2), (ls1, ls2, lp1, lp2) = _four(6, 4, seed)
    crit = ContrastiveLoss(margin=1.0)
    total = crit(s1, s2, p1, p2, ls1, ls2, lp1, lp2)
    parts = crit.parts
    assert total.item() == pytest.approx(parts.sum().item(), rel=1e-12)
    blocks = [(s1, s2, ls1, ls2), (p1, p2, lp1, lp2), (s1, p1, ls1, lp1), (s2, p2, ls2, lp2)]
    for got, (x, y, lx, ly) in zip(parts, blocks, strict=True):
        gm, _ = naive_gm(x.detach().numpy(), y.detach().numpy(), lx.numpy(), ly.numpy(), 1.0)
        assert got.item() == pytest.approx(gm.mean(), rel=1e-12)


@pytest.mark.parametrize("labels", ["random", "same", "different", "one_each"])
def test_lifted_matches_naive_and_gradient_is_finite(labels):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(10, 4))
    lab = {
        "random": rng.integers(0, 3, 10),
        "same": np.zeros(10, int),
        "different": np.arange(10),
        "one_each": np.array([0, 0, *range(1, 9)]),
    }[labels]
    tx = _t(x)
    loss = lifted_struct_loss(torch.tensor(lab), tx, margin=1.0)
    assert loss.item() == pytest.approx(naive_lifted(lab, x, 1.0), rel=1e-10, abs=1e-14)
    loss.backward()
    assert torch.isfinite(tx.grad).all()


def test_lifted_blocks_concatenate_each_block_and_match_pml():
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.losses import LiftedStructureLoss

    (s1, s2, p1, p2), (ls1, ls2, lp1, lp2) = _four(8, 5, seed=4)
    parts = LiftedStructLoss(margin=1.0).block_losses(FourBatches(s1, s2, p1, p2, ls1, ls2, lp1, lp2))
    pml = LiftedStructureLoss(neg_margin=1.0, pos_margin=0.0, distance=LpDistance(normalize_embeddings=False))
    blocks = [(s1, s2, ls1, ls2), (p1, p2, lp1, lp2), (s1, p1, ls1, lp1), (s2, p2, ls2, lp2)]
    for got, (x, y, lx, ly) in zip(parts, blocks, strict=True):
        emb, lab = torch.cat([x, y]).detach(), torch.cat([lx, ly])
        assert got.item() == pytest.approx(naive_lifted(lab.numpy(), emb.numpy(), 1.0), rel=1e-10)
        assert got.item() == pytest.approx(pml(emb, lab).item(), rel=1e-10)  # PML without ref_emb agrees
    # PML with ref_emb (the cross-modal form) is not the lifted loss of the pairs across the two sets: for a
    # positive pair (query i, reference j) it takes the negatives of *query* j (row j, query j's label),
    # where the lifted loss takes those of reference j (column j, reference j's label).
    x, y, lx, ly = (
        s1.detach(),
        p1.detach(),
        torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]),
        torch.tensor([1] * 4 + [0] * 4),
    )
    d = torch.cdist(x, y)
    lifted, pml_form = [], []
    for i in range(8):
        for j in range(8):
            if lx[i] == ly[j]:
                row_i = sum(torch.exp(1 - d[i, k]) for k in range(8) if ly[k] != lx[i])
                column_j = sum(torch.exp(1 - d[k, j]) for k in range(8) if lx[k] != ly[j])
                row_j = sum(torch.exp(1 - d[j, k]) for k in range(8) if ly[k] != lx[j]) if j != i else 0
                lifted.append(torch.relu(torch.log(row_i + column_j) + d[i, j]) ** 2 / 2)
                pml_form.append(torch.relu(torch.log(row_i + row_j) + d[i, j]) ** 2 / 2)
    got = pml(x, lx, ref_emb=y, ref_labels=ly).item()
    assert got == pytest.approx(torch.stack(pml_form).mean().item(), rel=1e-10)  # what PML computes
    assert abs(got - torch.stack(lifted).mean().item()) > 1e-2 * got  # ... which is not the lifted loss


@pytest.mark.parametrize("paired", [True, False])
def test_npairs_matches_naive(paired):
    rng = np.random.default_rng(5)
    a, p = rng.normal(size=(7, 4)), rng.normal(size=(7, 4))
    la = rng.integers(0, 4, 7)
    lp = None if paired else rng.integers(0, 4, 7)
    got = npairs_loss(torch.tensor(la), _t(a), _t(p), 2e-4, None if lp is None else torch.tensor(lp))
    assert got.item() == pytest.approx(naive_npairs(la, a, p, 2e-4, lp), rel=1e-10)


def test_npairs_equals_pml_for_unique_labels_without_regulariser():
    from pytorch_metric_learning.distances import DotProductSimilarity
    from pytorch_metric_learning.losses import NPairsLoss

    g = torch.Generator().manual_seed(0)
    a, p = (
        torch.randn(6, 5, generator=g, dtype=torch.float64),
        torch.randn(6, 5, generator=g, dtype=torch.float64),
    )
    lab = torch.arange(6)
    ours = npairs_loss(lab, a, p, reg_lambda=0.0)
    theirs = NPairsLoss(distance=DotProductSimilarity(normalize_embeddings=False))(
        torch.cat([a, p]), torch.cat([lab, lab])
    )
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-10)


# ---------------------------------------------------------------- the semi-hard triplet loss
def naive_triplet(labels, x, margin):
    """TF's semi-hard triplet loss by loops (bwot.losses.triplet); also whether every positive pair had a
    semi-hard negative."""
    n = len(labels)
    d = np.array([[((x[i] - x[j]) ** 2).sum() if i != j else 0.0 for j in range(n)] for i in range(n)])
    total, n_pairs, all_semihard = 0.0, 0, True
    for i in range(n):
        negatives = [d[i, k] for k in range(n) if labels[k] != labels[i]]
        for p in range(n):
            if p == i or labels[p] != labels[i]:
                continue
            n_pairs += 1
            beyond = [dn for dn in negatives if dn > d[i, p]]
            all_semihard &= bool(beyond)
            # no semi-hard negative: the farthest; no negative at all: the row's minimum, d[i, i] = 0
            dn = min(beyond) if beyond else max(negatives, default=0.0)
            total += max(0.0, margin + d[i, p] - dn)
    return (total / n_pairs if n_pairs else 0.0), all_semihard


def _triplet_case(kind, seed, n=12, dim=3):
    """Embeddings and labels: `kind` random (repeated labels), same (no negative anywhere), different (no
    positive pair), ties (a grid of integer points and duplicates: equal distances, zero distances)."""
    rng = np.random.default_rng(seed)
    x = 0.5 * rng.normal(size=(n, dim))
    labels = rng.integers(0, 3, n)
    if kind == "same":
        labels = np.zeros(n, int)
    elif kind == "different":
        labels = np.arange(n)
    elif kind == "ties":
        x = rng.integers(-1, 2, size=(n, dim)).astype(float)
        x[1] = x[0]
    return x, labels


@pytest.mark.parametrize("kind", ["random", "same", "different", "ties"])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("margin", [0.2, 1.0, 3.0])
def test_triplet_matches_naive(kind, seed, margin):
    x, labels = _triplet_case(kind, seed)
    tx = _t(x)
    loss = triplet_semihard_loss(torch.tensor(labels), tx, margin)
    want, _ = naive_triplet(labels, x, margin)
    assert loss.item() == pytest.approx(want, rel=1e-10, abs=1e-14)
    if kind == "different":
        assert loss.item() == 0.0  # TF: 0 / 0
    if kind == "same":  # no negative: each term is margin + d(a, p)
        d = ((x[:, None] - x[None]) ** 2).sum(-1)
        assert want == pytest.approx(margin + d.sum() / (len(x) * (len(x) - 1)), rel=1e-12)
    loss.backward()
    assert torch.isfinite(tx.grad).all()


def test_triplet_float32_and_batched_leading_dims():
    kinds = ["random", "same", "different", "ties"]
    xs, labs = zip(*(_triplet_case(kind, seed, n=20, dim=5) for seed, kind in enumerate(kinds)), strict=True)
    x, labels = torch.tensor(np.stack(xs)), torch.tensor(np.stack(labs))
    batched = triplet_semihard_loss(labels, x, 1.0)
    assert batched.shape == (4,) and batched.dtype == torch.float64
    for k in range(4):
        want, _ = naive_triplet(labs[k], xs[k], 1.0)
        assert batched[k].item() == pytest.approx(want, rel=1e-12)
        got = triplet_semihard_loss(labels[k], x[k].float(), 1.0)
        assert got.dtype == torch.float32 and got.item() == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("kind", ["random", "same"])
def test_triplet_gradient_matches_finite_differences(kind):
    x, labels = _triplet_case(kind, seed=4, n=7)
    lab = torch.tensor(labels)
    assert torch.autograd.gradcheck(lambda e: triplet_semihard_loss(lab, e, 0.5), (_t(x),))


def test_triplet_blocks_concatenate_each_block():
    (s1, s2, p1, p2), (ls1, ls2, lp1, lp2) = _four(8, 5, seed=4)
    crit = TripletSemiHardLoss(margin=0.7)
    total = crit(s1, s2, p1, p2, ls1, ls2, lp1, lp2)
    blocks = [(s1, s2, ls1, ls2), (p1, p2, lp1, lp2), (s1, p1, ls1, lp1), (s2, p2, ls2, lp2)]
    for got, (x, y, lx, ly) in zip(crit.parts, blocks, strict=True):
        emb, lab = torch.cat([x, y]).detach().numpy(), torch.cat([lx, ly]).numpy()
        assert got.item() == pytest.approx(naive_triplet(lab, emb, 0.7)[0], rel=1e-10)
    assert total.item() == pytest.approx(crit.parts.sum().item(), rel=1e-12)


def test_triplet_against_pml():
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.losses import TripletMarginLoss
    from pytorch_metric_learning.miners import BatchEasyHardMiner
    from pytorch_metric_learning.reducers import MeanReducer

    # PML's BatchEasyHardMiner keeps one positive per anchor (the nearest) and drops an anchor without a
    # semi-hard negative; TF takes every positive pair and falls back to the farthest negative. With each
    # label twice and a semi-hard negative for every pair the two select the same triplets and agree.
    distance = LpDistance(power=2, normalize_embeddings=False)  # squared Euclidean, as TF
    miner = BatchEasyHardMiner(pos_strategy="easy", neg_strategy="semihard", distance=distance)
    pml = TripletMarginLoss(margin=1.0, distance=distance, reducer=MeanReducer())
    labels = np.repeat(np.arange(6), 2)
    for seed, all_semihard in [(0, True), (1, False)]:
        x, _ = _triplet_case("random", seed=seed, n=12, dim=4)
        want, semihard = naive_triplet(labels, x, 1.0)
        assert semihard == all_semihard  # the case's precondition
        emb, lab = torch.tensor(x), torch.tensor(labels)
        theirs = pml(emb, lab, miner(emb, lab)).item()
        ours = triplet_semihard_loss(lab, emb, 1.0).item()
        assert ours == pytest.approx(want, rel=1e-10)
        if all_semihard:
            assert ours == pytest.approx(theirs, rel=1e-10)
        else:  # an anchor without a semi-hard negative: PML drops it, TF takes the farthest negative
            assert abs(ours - theirs) > 1e-3 * ours


def test_triplet_memory_is_quadratic_in_the_batch():
    """Four blocks of n = 1200 (B = 600 per batch), float32, forward and backward, in a fresh process: peak
    resident memory grows by under 1 GiB (about 0.56 GiB measured: O(n^2)); TF's (4, n, n, n) mask alone
    would take 6.4 GiB, and the old n^3 code grew by 1.7 GiB at n = 300 already."""
    code = textwrap.dedent(
        """
        import resource, sys, torch
        from bwot.losses import triplet_semihard_loss

        def peak_mib():  # ru_maxrss: KiB on Linux, bytes on macOS
            unit = 2**20 if sys.platform == "darwin" else 2**10
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / unit

        torch.manual_seed(0)
        warm_up = torch.randn(4, 3, requires_grad=True)
        triplet_semihard_loss(torch.arange(4) % 2, warm_up).backward()
        x = torch.randn(4, 1200, 16, requires_grad=True)
        labels = torch.randint(0, 50, (4, 1200))
        before = peak_mib()
        loss = triplet_semihard_loss(labels, x, 1.0)
        loss.sum().backward()
        assert loss.shape == (4,) and torch.isfinite(loss).all() and torch.isfinite(x.grad).all()
        print(peak_mib() - before)
        """
    )
    pytest.importorskip("resource")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) < 1024


# ---------------------------------------------------------------- the registry and the common interface


def test_registry_builds_each_loss_from_the_config():
    cfg = MetricConfig(margin=0.5, lamb=3.0, sinkhorn_iters=7, sinkhorn_log_domain=True, npair_reg=1e-3)
    built = {name: build_loss(name, cfg) for name in LOSSES}
    for name, loss in built.items():
        assert isinstance(loss, FourBatchLoss) and loss.name == name and loss_class(name) is type(loss)
    # the hyper-parameters of the losses defined here reach them
    ot = built["ot"]
    assert (ot.margin, ot.lamb, ot.gamma, ot.iters, ot.options.log_domain) == (0.5, 3.0, 10.0, 7, True)
    assert built["contrastive"].margin == built["lifted"].margin == built["triplet"].margin == 0.5
    assert built["npair"].reg_lambda == 1e-3
    message = f"unknown loss 'no-such-loss'; choose from {', '.join(LOSSES)}"
    with pytest.raises(ValueError, match=re.escape(message)):
        loss_class("no-such-loss")


@pytest.mark.parametrize("name", list(LOSSES))
def test_registry_keys_are_what_from_config_reads(name):
    """A sweep of a key trains only the losses whose Entry names it: the names must be what the loss reads."""

    class Recording:
        def __init__(self, cfg):
            self.cfg, self.read = cfg, set()

        def __getattr__(self, key):
            self.read.add(key)
            return getattr(self.cfg, key)

    cfg = Recording(MetricConfig())
    loss_class(name).from_config(cfg)
    assert cfg.read == set(LOSSES[name].keys)


@pytest.mark.parametrize("name", SUMMED)
def test_four_batch_losses_are_the_sum_of_their_blocks(name):
    (s1, s2, p1, p2), (ls1, ls2, lp1, lp2) = _four(6, 4, seed=7)
    crit = build_loss(name, MetricConfig())
    total = crit(s1, s2, p1, p2, ls1, ls2, lp1, lp2)
    assert crit.parts.shape == (4,) and torch.isfinite(crit.parts).all()
    assert total.item() == crit.parts.sum().item()
    # each block alone: the loss of a FourBatches whose four blocks are that block
    batches = FourBatches(s1, s2, p1, p2, ls1, ls2, lp1, lp2)
    for k, ((x, y), (lx, ly)) in enumerate(zip(batches.blocks(), batches.label_blocks(), strict=True)):
        alone = crit.block_losses(FourBatches(x, y, x, y, lx, ly, lx, ly))
        assert alone[0].item() == pytest.approx(crit.parts[k].item(), rel=1e-12)


def test_npair_uses_one_paired_block():
    g = torch.Generator().manual_seed(3)
    a, p = (
        torch.randn(5, 4, generator=g, dtype=torch.float64),
        torch.randn(5, 4, generator=g, dtype=torch.float64),
    )
    lab = torch.arange(5)
    empty, no_labels = a[:0], lab[:0]
    crit = NPairLoss(2e-4)
    total = crit(a, empty, p, empty, lab, no_labels, lab, no_labels)
    assert total.item() == npairs_loss(lab, a, p, 2e-4).item()
    assert torch.isnan(crit.parts[[0, 1, 3]]).all() and crit.parts[2].item() == total.item()
    rng = np.random.default_rng(0)
    sketch_labels, shape_labels = np.repeat(np.arange(4), 5), np.repeat(np.arange(4), 3)
    i, j = crit.sample(rng, sketch_labels, shape_labels, 6)
    assert len(i) == len(j) == 6 and (sketch_labels[i] == shape_labels[j]).all()
    assert sorted(sketch_labels[i][:4]) == [0, 1, 2, 3]  # distinct classes before any repeats
    with pytest.raises(ValueError, match="no class has both training sketches and target models"):
        NPairLoss(2e-4).sample(rng, sketch_labels, shape_labels + 10, 6)


# ---------------------------------------------------------------- CPU against CUDA (`pytest -m gpu`)


def _four_batches(device, seed=0, b=30, dim=16, classes=8):
    """Float64 leaf embeddings and labels of four batches on `device` (the same values on every device)."""
    (s1, s2, p1, p2), (ls1, ls2, lp1, lp2) = _four(b, dim, seed)
    labels = [x % classes for x in (ls1, ls2, lp1, lp2)]
    leaves = [x.detach().to(device).requires_grad_() for x in (s1, s2, p1, p2)]
    return leaves, [x.to(device) for x in labels]


@pytest.mark.gpu
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_value_and_gradients_cpu_equal_cuda_in_float64(name):
    """Every loss in float64: the value and the gradients of the four batches on CUDA equal the CPU's
    (numpy Sinkhorn on CPU, torch on CUDA) to rtol 1e-9 (only the summation orders differ)."""
    crit = build_loss(name, MetricConfig())
    results = []
    for device in ("cpu", "cuda"):
        xs, ls = _four_batches(device)
        value = crit(*xs, *ls)
        grads = torch.autograd.grad(value, xs, allow_unused=True)
        results.append((value.detach().cpu(), [None if g is None else g.cpu() for g in grads]))
    (v_cpu, g_cpu), (v_cuda, g_cuda) = results
    assert torch.isfinite(v_cpu)
    torch.testing.assert_close(v_cuda, v_cpu, rtol=1e-9, atol=1e-12)
    for a, b in zip(g_cuda, g_cpu, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.gpu
@pytest.mark.parametrize("log_domain", [False, True])
def test_sinkhorn_scalings_cpu_equal_cuda_in_float64(log_domain):
    """The four blocks' batched Sinkhorn sweeps: numpy on CPU, torch on CUDA, same scalings (rtol 1e-10)."""
    from bwot.losses import sinkhorn_scalings

    g = torch.Generator().manual_seed(1)
    gm = torch.rand(4, 30, 30, generator=g, dtype=torch.float64) * 1.5
    log_k = -10.0 * torch.exp(-10.0 * gm)
    opts = OTOptions(log_domain=log_domain)
    u_cpu, v_cpu = sinkhorn_scalings(log_k, 20, opts)
    u_cuda, v_cuda = sinkhorn_scalings(log_k.cuda(), 20, opts)
    assert u_cuda.device.type == "cuda"
    torch.testing.assert_close(u_cuda.cpu(), u_cpu, rtol=1e-10, atol=0)
    torch.testing.assert_close(v_cuda.cpu(), v_cpu, rtol=1e-10, atol=0)


# ------------------------------------------------------------------- the same bits on every CPU's BLAS

_BITS_OF_OT = """
import hashlib, torch
from bwot.config import MetricConfig
from bwot.losses.registry import build_loss
torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
crit, h = build_loss("ot", MetricConfig()), hashlib.sha256()
for _ in range(3):
    x = [torch.randn(30, 100, generator=g).requires_grad_() for _ in range(4)]
    labels = [torch.randint(0, 8, (30,), generator=g) for _ in range(4)]
    loss = crit(*x, *labels)
    loss.backward()
    for t in [loss.detach(), *[xi.grad for xi in x]]:
        h.update(t.numpy().tobytes())
print(h.hexdigest())
"""


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="OpenBLAS core types of x86-64")
def test_ot_on_cpu_has_the_same_bits_whatever_kernels_openblas_picks():
    """numpy's OpenBLAS picks its kernels by the CPU (Haswell or Zen kernels on AVX2 machines, SkylakeX on
    AVX-512 ones), and each sums in its own order: the CPU Sinkhorn of ot must not go through it, or two
    machines train other networks from the same data. Forced here to three x86-64 core types any AVX2
    machine runs (the products of before gave three different results)."""
    bits = {
        core: subprocess.run(
            [sys.executable, "-c", _BITS_OF_OT],
            env={**os.environ, "OPENBLAS_CORETYPE": core},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for core in ("Prescott", "Sandybridge", "Haswell")
    }
    assert len(set(bits.values())) == 1, bits
