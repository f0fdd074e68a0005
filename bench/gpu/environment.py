"""The environment section: the machine (CPU, torch, CUDA device and driver, EGL vendors installed)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from typing import Any

import torch
from common import VENDOR_DIRS


def environment(device: torch.device) -> dict[str, Any]:
    """The machine: CPU, torch, CUDA device and driver, EGL vendors installed."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "cuda": device.type == "cuda",
        "egl_vendors": sorted(p.name for d in VENDOR_DIRS if d.is_dir() for p in d.glob("*.json")),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["gpu_count"] = torch.cuda.device_count()
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1)
        smi = shutil.which("nvidia-smi")
        if smi:
            out = subprocess.run(
                [smi, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True
            )
            info["driver"] = out.stdout.strip().splitlines()[0] if out.stdout.strip() else None
    return info
