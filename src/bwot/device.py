"""Device choice for the torch stages: `auto` (CUDA when present), `cpu`, `cuda` or `cuda:N`."""

from __future__ import annotations

import torch


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
