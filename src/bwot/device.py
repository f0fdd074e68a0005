"""Device choice for the torch stages: `auto` (CUDA when usable), `cpu`, `cuda` or `cuda:N` (docs/gpu.md).

`resolve_device` turns the config's string into a torch.device. `cuda`/`cuda:N` where CUDA is not usable
fails at once with torch's own reason (no driver, a driver too old for this torch build, a GPU this build
has no kernels for, no GPU visible); `auto` then runs on the CPU and says why, as a warning when the
machine seems to have an NVIDIA GPU (the driver is what needs fixing), else as information.
`cuda_problem` is that reason; `python -m bwot.device SPEC...` prints it as JSON, so that the workflow's
check before any job (bwot.workflow) can ask without importing torch in the Snakemake process.

Local multi-GPU runs: Snakemake limits how many `gpu=1` jobs run at once (`--resources gpu=N`) but does
not say which GPU a job gets. `claim_gpu` gives each job a distinct one: it takes an exclusive lock file
per GPU (held for the life of the process) and sets CUDA_VISIBLE_DEVICES to the GPU it got, before CUDA
is initialised. Under SLURM, the scheduler already sets CUDA_VISIBLE_DEVICES and one GPU is visible.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import torch

log = logging.getLogger(__name__)
_held_locks: list[int] = []  # file descriptors kept open for the life of the process
# The minimum Linux driver of each CUDA major version (NVIDIA, CUDA Compatibility: minor version
# compatibility): a torch build for CUDA 13.x needs a driver >= 580.
MIN_DRIVER = {"11": "450", "12": "525", "13": "580"}
GUIDE = "docs/gpu.md"


def resolve_device(spec: str = "auto") -> torch.device:
    """Turn a config device string into a torch.device.

    `cuda`/`cuda:N` without usable CUDA raises RuntimeError with torch's reason; `auto` then falls back to
    the CPU and logs the reason (a warning when an NVIDIA GPU seems present). Call after `claim_gpu`: when
    CUDA is usable this initialises it."""
    if spec == "cpu":
        return torch.device("cpu")
    problem = cuda_problem(spec)
    if spec == "auto":
        if problem is None:
            return torch.device("cuda")
        present = gpu_present()
        log.log(
            logging.WARNING if present else logging.INFO,
            "device auto: CUDA is not usable (%s); running on the CPU%s",
            problem,
            f". {build_requirement()}" if present else "",
        )
        return torch.device("cpu")
    if problem is not None:
        raise RuntimeError(
            f"device '{spec}' asked for, but CUDA is not usable here: {problem}. Set the device to auto or "
            f"cpu, or run on a machine whose GPU torch can use ({build_requirement()})"
        )
    return torch.device(spec)


def cuda_problem(spec: str = "cuda") -> str | None:
    """Why `spec` (auto, cuda or cuda:N) cannot run on CUDA in this process, in torch's words; None when
    it can: a GPU is visible, the driver is new enough for this torch build, and the build has kernels for
    the GPU's compute capability. Initialises CUDA when it is usable."""
    if torch.version.cuda is None:
        return f"this torch build ({torch.__version__}) has no CUDA"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    where = f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else ""
    with warnings.catch_warnings(record=True) as caught:  # torch warns "CUDA initialization: <reason>"
        warnings.simplefilter("always")
        available = torch.cuda.is_available()
    if not available:
        reasons = [str(w.message) for w in caught if "CUDA initialization" in str(w.message)]
        try:
            torch.cuda.init()  # raises with the driver's reason: none found, too old, no device, ...
        except Exception as err:  # any failure of CUDA's initialisation is the reason
            reasons.append(str(err))
        reason = reasons[-1] if reasons else "torch sees no CUDA device"
        return " ".join(reason.removeprefix("CUDA initialization: ").split()) + where
    count = torch.cuda.device_count()
    index = torch.device(spec).index if spec.startswith("cuda") else None
    if index is not None and index >= count:
        return f"cuda:{index} asked for, but {count} GPU(s) are visible{where}"
    gpu = index or 0
    major, minor = torch.cuda.get_device_capability(gpu)
    if not runs_on(major, minor, torch.cuda.get_arch_list()):
        return (
            f"GPU {gpu} ({torch.cuda.get_device_name(gpu)}) has compute capability {major}.{minor}, and "
            f"this torch build has kernels for {' '.join(torch.cuda.get_arch_list())} only"
        )
    return None


def runs_on(major: int, minor: int, arch_list: list[str]) -> bool:
    """Whether a build with `arch_list` (sm_XY: binaries, compute_XY: PTX) runs on compute capability
    major.minor: a binary on its major version from its minor up, PTX on every later capability."""
    for arch in arch_list:
        code = _arch_code(arch)
        if arch.startswith("sm_") and code // 10 == major and code % 10 <= minor:
            return True
        if arch.startswith("compute_") and code <= 10 * major + minor:
            return True
    return False


def build_requirement() -> str:
    """What this torch build needs of the machine, in one line."""
    cuda = torch.version.cuda
    if cuda is None:
        return f"torch {torch.__version__} is built without CUDA; see {GUIDE}"
    driver = MIN_DRIVER.get(cuda.split(".")[0])
    need = f"an NVIDIA driver >= {driver} on Linux and " if driver else ""
    codes = sorted(_arch_code(a) for a in torch.cuda.get_arch_list())
    span = f" of compute capability {codes[0] / 10:.1f} to {codes[-1] / 10:.1f}" if codes else ""
    return f"torch {torch.__version__} is built for CUDA {cuda}: it needs {need}a GPU{span}; see {GUIDE}"


def _arch_code(arch: str) -> int:
    """sm_86 -> 86, compute_90 -> 90, sm_90a -> 90."""
    return int(arch.partition("_")[2].rstrip("af"))


def gpu_present() -> bool:
    """Whether this machine seems to have an NVIDIA GPU, whatever torch says: nvidia-smi on PATH or the
    device file /dev/nvidia0."""
    return shutil.which("nvidia-smi") is not None or os.path.exists("/dev/nvidia0")


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


def main(specs: list[str]) -> None:
    """Print {spec: cuda_problem(spec) and what the build needs} as JSON: the workflow's check before any
    job asks this in a child process."""
    problems = {spec: cuda_problem(spec) for spec in specs}
    print(json.dumps({spec: p and f"{p} ({build_requirement()})" for spec, p in problems.items()}))


if __name__ == "__main__":
    main(sys.argv[1:])
