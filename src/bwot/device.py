"""Device choice for the torch stages: `auto` (CUDA when present), `cpu`, `cuda` or `cuda:N`.

Local multi-GPU runs: Snakemake limits how many `gpu=1` jobs run at once (`--resources gpu=N`) but does
not say which GPU a job gets. `claim_gpu` gives each job a distinct one: it takes an exclusive lock file
per GPU (held for the life of the process) and sets CUDA_VISIBLE_DEVICES to the GPU it got, before CUDA
is initialised. Under SLURM, the scheduler already sets CUDA_VISIBLE_DEVICES and one GPU is visible.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

log = logging.getLogger(__name__)
_held_locks: list[int] = []  # file descriptors kept open for the life of the process


def resolve_device(spec: str = "auto") -> torch.device:
    """Turn a config device string into a torch.device, failing clearly when CUDA is asked but absent."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device '{spec}' requested but CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(f"device '{spec}' requested but only {torch.cuda.device_count()} GPU(s) exist")
    return device


def visible_gpus() -> list[str]:
    """GPU ids this process may use: CUDA_VISIBLE_DEVICES if set, else those `nvidia-smi -L` lists.

    Does not touch torch.cuda, so CUDA_VISIBLE_DEVICES can still be changed afterwards.
    """
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g for g in (s.strip() for s in env.split(",")) if g and g != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False).stdout
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def claim_gpu(spec: str, lock_dir: str | Path | None = None) -> str:
    """For `auto`/`cuda` with several GPUs visible, pin this process to one free GPU; return the spec to use.

    Must run before CUDA is initialised in this process. `cuda:N` and `cpu` are returned unchanged.
    """
    if spec not in ("auto", "cuda"):
        return spec
    gpus = visible_gpus()
    if len(gpus) <= 1:
        return spec
    lock_dir = Path(lock_dir or os.environ.get("BWOT_GPU_LOCK_DIR", tempfile.gettempdir()))
    for gpu in gpus:
        fd = os.open(lock_dir / f"bwot-gpu-{gpu}.lock", os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _held_locks.append(fd)
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        log.info("claimed GPU %s (CUDA_VISIBLE_DEVICES=%s)", gpu, gpu)
        return "cuda"
    raise RuntimeError(
        f"all {len(gpus)} GPUs ({','.join(gpus)}) are claimed by other bwot jobs; "
        "run snakemake with --resources gpu=<number of GPUs>"
    )
