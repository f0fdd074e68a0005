"""Device choice and the per-job GPU claim for local multi-GPU runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from bwot.device import claim_gpu, resolve_device, visible_gpus


def test_resolve_cpu_and_auto():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        resolve_device("cuda:0")


def test_visible_gpus_from_env(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 5")
    assert visible_gpus() == ["2", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []


CLAIM = (
    "import os, sys, time\n"
    "from bwot.device import claim_gpu\n"
    "print(claim_gpu('cuda', sys.argv[1]), os.environ['CUDA_VISIBLE_DEVICES'], flush=True)\n"
    "time.sleep(float(sys.argv[2]))"
)
HOLD_ALL = (
    "import fcntl, sys, time\n"
    "held = [open(f'{sys.argv[1]}/bwot-gpu-{g}.lock', 'w') for g in '01']\n"
    "[fcntl.flock(f, fcntl.LOCK_EX) for f in held]\n"
    "print('ok', flush=True)\n"
    "time.sleep(3600)  # until the test kills it"
)


def test_concurrent_jobs_get_distinct_gpus(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0,1"}
    first = subprocess.Popen(
        [sys.executable, "-c", CLAIM, str(tmp_path), "3600"], env=env, stdout=subprocess.PIPE, text=True
    )
    line1 = first.stdout.readline().split()
    second = subprocess.run(
        [sys.executable, "-c", CLAIM, str(tmp_path), "0"], env=env, capture_output=True, text=True
    )
    first.kill()
    first.wait()
    assert line1 == ["cuda", "0"]
    assert second.stdout.split() == ["cuda", "1"]
    # once the first job has ended, its GPU is free again
    again = subprocess.run(
        [sys.executable, "-c", CLAIM, str(tmp_path), "0"], env=env, capture_output=True, text=True
    )
    assert again.stdout.split() == ["cuda", "0"]


def test_all_gpus_claimed_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_ALL, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "ok"
    try:
        with pytest.raises(RuntimeError, match="are claimed by other bwot jobs"):
            claim_gpu("cuda", tmp_path)
    finally:
        holder.kill()


def test_single_gpu_or_explicit_index_unchanged(monkeypatch, tmp_path):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert claim_gpu("cuda", tmp_path) == "cuda"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert claim_gpu("cuda:1", tmp_path) == "cuda:1"
    assert claim_gpu("cpu", tmp_path) == "cpu"


REAL_CLAIM = (
    "import os, sys, torch\n"
    "from bwot.device import claim_gpu, resolve_device\n"
    "spec = claim_gpu('cuda', sys.argv[1])\n"
    "device = resolve_device(spec)\n"
    "total = torch.arange(4, device=device, dtype=torch.float64).sum().item()\n"
    "print(spec, os.environ.get('CUDA_VISIBLE_DEVICES', '-'), torch.cuda.device_count(), total, flush=True)"
)


@pytest.mark.gpu
def test_claim_gpu_on_a_real_device(tmp_path, monkeypatch):
    """On the machine's own GPUs (nvidia-smi, no CUDA_VISIBLE_DEVICES): a job that claims a GPU computes on
    it; with several GPUs it sees only the one it claimed, and a second job gets another one."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    gpus = visible_gpus()
    assert len(gpus) == torch.cuda.device_count() >= 1
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    first = subprocess.Popen(
        [sys.executable, "-c", REAL_CLAIM + "\nimport time; time.sleep(60)", str(tmp_path)],
        env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        spec, visible, count, total = first.stdout.readline().split()
        assert spec == "cuda" and float(total) == 6.0
        if len(gpus) == 1:
            assert visible == "-" and count == "1"  # one GPU: nothing to claim, the job uses it as it is
        else:
            assert visible in gpus and count == "1"
            second = subprocess.run(
                [sys.executable, "-c", REAL_CLAIM, str(tmp_path)], env=env, capture_output=True, text=True
            )
            other = second.stdout.split()
            assert other[0] == "cuda" and other[1] in gpus and other[1] != visible and float(other[3]) == 6.0
    finally:
        first.kill()
        first.wait()
