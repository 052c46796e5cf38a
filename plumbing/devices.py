"""Devices by name: which one a setting means, what it is called, and the peak memory a run used on it. torch is
imported when a function needs it, so that planning code may import this module cheaply."""

from __future__ import annotations

import contextlib
import platform
import resource
from pathlib import Path


def resolve_device(name: str):
    """ "auto" → CUDA when available, else CPU; an explicit "cuda" without a GPU is a one-line ValueError."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is visible; use device 'cpu' (--device cpu)")
    return device


def device_name(device) -> str:
    """Human-readable device: the GPU's name, or the CPU model."""
    if device.type == "cuda":
        import torch

        return torch.cuda.get_device_name(device)
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def peak_memory(device) -> dict:
    """Peak memory so far: CUDA max reserved on a GPU, else the process's peak resident set size."""
    if device.type == "cuda":
        import torch

        return {"bytes": int(torch.cuda.max_memory_reserved(device)), "kind": "cuda_max_memory_reserved"}
    # ru_maxrss is in KiB on Linux.
    return {"bytes": int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "kind": "process_peak_rss"}
