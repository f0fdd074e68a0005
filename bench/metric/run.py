"""Benchmark of the metric stage: training steps/s, GFLOP/s against plain matmuls, Sinkhorn against POT.

.venv/bin/python bench/metric/run.py [--threads 1] [--steps 30] [--device cpu]

1. Training steps/s at B = 30, 4096-d inputs, the original networks (sketch 4096-2000-1000-500-100, shape
   4096-2000-2000-1000-500-100), batch-wise OT loss, SGD with momentum (one full step: sampling, forward,
   loss, backward, update).
2. The same step's matmul work (forward, input and weight gradients of every Linear layer, both modalities,
   2B rows each) run as plain torch.matmul calls: the achievable GFLOP/s;
   ratio = step GFLOP/s / matmul GFLOP/s.
3. Sinkhorn alone (four 30x30 blocks, 20 sweeps, float64): ours (one batched computation) against POT's
   ot.sinkhorn per block (numpy) and ot.batch.bregman_projection_batch (torch, batched), same plans.
Results go to bench/out/metric.json and are printed as a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from bwot.losses import BatchOTLoss, OTOptions, sinkhorn_scalings
from bwot.metric import MetricNets

B, D = 30, 4096


def timeit(fn, repeat: int, warmup: int = 3, sync=lambda: None) -> float:
    """Median seconds per call."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def step_flops(nets: MetricNets, rows: int) -> float:
    """FLOPs of forward + backward matmuls (no input gradient for the first layer), `rows` rows a net."""
    flops = 0.0
    for net in (nets.sketch, nets.shape):
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        for i, lin in enumerate(linears):
            per = 2.0 * rows * lin.in_features * lin.out_features
            flops += per * (2 if i == 0 else 3)
    return flops


def bench_training(device: torch.device, steps: int) -> dict:
    torch.manual_seed(0)
    nets = MetricNets(D, D).to(device)
    opt = torch.optim.SGD(nets.parameters(), lr=5e-4, momentum=0.9, fused=True)
    loss_fn = BatchOTLoss(1.0, 10.0)
    sk, sh = torch.randn(4000, D, device=device).abs(), torch.randn(1000, D, device=device).abs()
    skl, shl = torch.randint(0, 90, (4000,), device=device), torch.randint(0, 90, (1000,), device=device)
    rng = np.random.default_rng(0)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step():
        i = torch.from_numpy(rng.choice(4000, 2 * B, replace=False)).to(device)
        j = torch.from_numpy(rng.choice(1000, 2 * B, replace=False)).to(device)
        es, ep = nets.sketch(sk[i]), nets.shape(sh[j])
        loss = loss_fn(es[:B], es[B:], ep[:B], ep[B:], skl[i[:B]], skl[i[B:]], shl[j[:B]], shl[j[B:]])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t_step = timeit(step, steps, sync=sync)

    def forward_backward():  # the same step without sampling and the (memory-bound) optimiser update
        es, ep = nets.sketch(sk[:60]), nets.shape(sh[:60])
        loss = loss_fn(es[:B], es[B:], ep[:B], ep[B:], skl[:B], skl[B:60], shl[:B], shl[B:60])
        nets.zero_grad(set_to_none=True)
        loss.backward()

    t_fb = timeit(forward_backward, steps, sync=sync)

    # the same matmuls, plain
    mats = []
    for net in (nets.sketch, nets.shape):
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        for k, lin in enumerate(linears):
            x = torch.randn(2 * B, lin.in_features, device=device)
            dy = torch.randn(2 * B, lin.out_features, device=device)
            w = lin.weight.detach().clone()
            mats.append((x, dy, w, k > 0))

    def matmuls():
        for x, dy, w, need_dx in mats:
            torch.matmul(x, w.T)
            torch.matmul(dy.T, x)
            if need_dx:
                torch.matmul(dy, w)

    t_mm = timeit(matmuls, steps, sync=sync)
    flops = step_flops(nets, 2 * B)
    return {
        "steps_per_s": 1.0 / t_step,
        "step_ms": 1e3 * t_step,
        "step_gflops": flops / t_step / 1e9,
        "matmul_ms": 1e3 * t_mm,
        "matmul_gflops": flops / t_mm / 1e9,
        "ratio": t_mm / t_step,
        "fwd_bwd_ms": 1e3 * t_fb,
        "fwd_bwd_gflops": flops / t_fb / 1e9,
        "ratio_fwd_bwd": t_mm / t_fb,
        "gflop_per_step": flops / 1e9,
    }


def bench_sinkhorn(repeat: int) -> dict:
    import ot
    import ot.batch

    warnings.filterwarnings("ignore", message="Sinkhorn did not converge")

    rng = np.random.default_rng(0)
    lamb, iters = 10.0, 20
    gm = torch.from_numpy(rng.uniform(0, 1.5, size=(4, B, B)))
    e = torch.exp(-10.0 * gm)  # the cost POT sees: K = exp(-E / reg), reg = 1 / lamb
    log_k = -lamb * e
    opts = OTOptions()

    def ours():
        u, v = sinkhorn_scalings(log_k, iters, opts)
        return u[..., :, None] * log_k.exp() * v[..., None, :]

    e_np = e.numpy()
    a = np.full(B, 1.0 / B)

    def pot_loop():
        return np.stack(
            [ot.sinkhorn(a, a, e_np[k], 1.0 / lamb, numItermax=iters, stopThr=0.0) for k in range(4)]
        )

    # POT's batch solver updates u before v: run it on K^T so its sweeps equal ours (v, then u), transpose.
    k_t = log_k.exp().transpose(1, 2).contiguous()

    def pot_batch():
        return ot.batch.bregman_projection_batch(k_t, max_iter=iters, tol=0.0)["T"].transpose(1, 2)

    ref = ours().numpy()
    diff_loop = float(np.abs(pot_loop() - ref).max())
    diff_batch = float(np.abs(pot_batch().numpy() - ref).max())
    t_ours = timeit(ours, repeat)
    log_k32 = log_k.float()
    t_ours32 = timeit(lambda: sinkhorn_scalings(log_k32, iters, opts), repeat)
    t_loop = timeit(pot_loop, repeat)
    t_batch = timeit(pot_batch, repeat)
    return {
        "ours_us": 1e6 * t_ours,
        "ours_f32_us": 1e6 * t_ours32,
        "pot_sinkhorn_loop_us": 1e6 * t_loop,
        "pot_batch_us": 1e6 * t_batch,
        "speedup_vs_loop": t_loop / t_ours,
        "speedup_vs_batch": t_batch / t_ours,
        "maxdiff_vs_loop": diff_loop,
        "maxdiff_vs_batch": diff_batch,
        "pot_version": ot.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    out = {
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}",
        "training": {},
    }
    for threads in args.threads:
        torch.set_num_threads(threads)
        out["training"][threads] = bench_training(device, args.steps)
    torch.set_num_threads(1)
    out["sinkhorn"] = bench_sinkhorn(200)
    Path("bench/out").mkdir(parents=True, exist_ok=True)
    Path("bench/out/metric.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"device {device}; {out['machine']}")
    print(
        "| threads | steps/s | step ms | step GFLOP/s | fwd+bwd GFLOP/s | matmul GFLOP/s | step/matmul "
        "| fwd+bwd/matmul |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for threads, r in out["training"].items():
        print(
            f"| {threads} | {r['steps_per_s']:.1f} | {r['step_ms']:.1f} | {r['step_gflops']:.1f} | "
            f"{r['fwd_bwd_gflops']:.1f} | {r['matmul_gflops']:.1f} | {100 * r['ratio']:.0f}% | "
            f"{100 * r['ratio_fwd_bwd']:.0f}% |"
        )
    s = out["sinkhorn"]
    print(
        f"\nSinkhorn, 4 blocks 30x30, 20 sweeps, float64: ours {s['ours_us']:.0f} us "
        f"(float32 {s['ours_f32_us']:.0f} us); POT {s['pot_version']} ot.sinkhorn x4 "
        f"{s['pot_sinkhorn_loop_us']:.0f} us ({s['speedup_vs_loop']:.1f}x, "
        f"max |dT| {s['maxdiff_vs_loop']:.1e}); "
        f"ot.batch {s['pot_batch_us']:.0f} us ({s['speedup_vs_batch']:.1f}x, max |dT| "
        f"{s['maxdiff_vs_batch']:.1e})"
    )


if __name__ == "__main__":
    main()
