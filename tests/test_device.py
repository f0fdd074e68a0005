"""Device choice and the per-job GPU claim for local multi-GPU runs."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
import torch

import bwot.device
from bwot.device import claim_gpu, cuda_problem, resolve_device, runs_on, visible_gpus

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine where CUDA is not usable")
TOO_OLD = (
    "The NVIDIA driver on your system is too old (found version 12040). Please update your GPU driver by "
    "downloading and installing a new version from the URL: http://www.nvidia.com/Download/index.aspx"
)


def test_resolve_cpu_and_auto():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@NO_CUDA
def test_cuda_without_gpu_fails_at_once_with_torchs_reason():
    """`cuda`/`cuda:N` without usable CUDA: the job stops at once, saying what torch says and the fix."""
    reason = cuda_problem("cuda")
    assert reason  # torch's own words, e.g. "Found no NVIDIA driver on your system. ..."
    for spec in ("cuda", "cuda:0"):
        with pytest.raises(RuntimeError) as err:
            resolve_device(spec)
        message = str(err.value)
        assert f"device '{spec}' asked for, but CUDA is not usable here: {reason}" in message
        assert "auto or cpu" in message and "CUDA 13.0" in message and ">= 580" in message


@pytest.fixture
def old_driver(monkeypatch):
    """torch as on a machine whose driver is older than the build's CUDA: not available, init says why."""

    def init():
        raise RuntimeError(TOO_OLD)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "init", init)


def test_old_driver_reason_is_torchs(old_driver, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert cuda_problem("cuda") == TOO_OLD
    with pytest.raises(RuntimeError, match=r"too old \(found version 12040\)"):
        resolve_device("cuda:1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert cuda_problem("auto") == f"{TOO_OLD} (CUDA_VISIBLE_DEVICES='1')"


def test_auto_without_usable_cuda_warns_with_the_reason_where_a_gpu_is(old_driver, monkeypatch, caplog):
    """`auto` falls back to the CPU: one warning with torch's reason when the machine has an NVIDIA GPU
    (the driver needs fixing), only information when it has none."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(bwot.device, "gpu_present", lambda: True)
    with caplog.at_level(logging.INFO, logger="bwot.device"):
        assert resolve_device("auto") == torch.device("cpu")
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "device auto: CUDA is not usable (The NVIDIA driver on your system is too old" in record.message
    assert "running on the CPU" in record.message and ">= 580" in record.message
    caplog.clear()
    monkeypatch.setattr(bwot.device, "gpu_present", lambda: False)
    with caplog.at_level(logging.INFO, logger="bwot.device"):
        assert resolve_device("auto") == torch.device("cpu")
    [record] = caplog.records
    assert record.levelno == logging.INFO and "too old" in record.message


@pytest.fixture
def one_gpu(monkeypatch):
    """torch as on a machine with one visible GPU of compute capability 7.0 (a V100)."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=None: (7, 0))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=None: "Tesla V100-SXM2-16GB")
    monkeypatch.setattr(
        torch.cuda, "get_arch_list", lambda: ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]
    )


def test_a_gpu_the_build_has_no_kernels_for_is_not_usable(one_gpu, monkeypatch, caplog):
    problem = cuda_problem("cuda")
    assert problem == (
        "GPU 0 (Tesla V100-SXM2-16GB) has compute capability 7.0, and this torch build has kernels for "
        "sm_75 sm_80 sm_86 sm_90 sm_100 sm_120 only"
    )
    monkeypatch.setattr(bwot.device, "gpu_present", lambda: True)
    with caplog.at_level(logging.WARNING, logger="bwot.device"):
        assert resolve_device("auto") == torch.device("cpu")  # rather than failing at the first kernel
    assert "compute capability 7.0" in caplog.text
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=None: (8, 9))  # an L4: sm_86 runs
    assert cuda_problem("cuda") is None and resolve_device("cuda") == torch.device("cuda")
    assert cuda_problem("cuda:1") == "cuda:1 asked for, but 1 GPU(s) are visible"


@pytest.mark.parametrize(
    ("capability", "runs"),
    [((6, 0), False), ((7, 0), False), ((7, 5), True), ((8, 9), True), ((9, 0), True), ((10, 3), True),
     ((11, 0), False), ((12, 0), True)],
)  # fmt: skip
def test_runs_on_follows_binary_compatibility(capability, runs):
    """A binary for sm_XY runs on X.Y and later minors of major X; PTX (compute_XY) on every later one."""
    archs = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]
    assert runs_on(*capability, archs) is runs
    assert runs_on(11, 0, [*archs, "compute_100"])


@NO_CUDA
def test_module_prints_the_reasons_as_json():
    """`python -m bwot.device SPEC...`: what the workflow's check asks in a child process."""
    out = subprocess.run(
        [sys.executable, "-m", "bwot.device", "cuda", "auto"], capture_output=True, text=True, check=True
    ).stdout
    found = json.loads(out)
    assert set(found) == {"cuda", "auto"}
    assert found["cuda"].startswith(cuda_problem("cuda")) and "see docs/gpu.md" in found["cuda"]


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
