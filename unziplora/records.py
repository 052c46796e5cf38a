"""Run records (run.json) and safe output writing: versions, device, timings, memory; staged files."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch

from unziplora.files import atomic_file, share

PACKAGES = ("torch", "diffusers", "transformers", "peft", "accelerate", "safetensors", "numpy", "pillow")


def versions() -> dict[str, str]:
    """Versions of Python and of the libraries that decide a run's numbers."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def resolve_device(name: str) -> torch.device:
    """ "auto" → CUDA when available, else CPU; an explicit "cuda" without a GPU is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is visible; use --device cpu")
    return device


def device_name(device: torch.device) -> str:
    """Human-readable device: the GPU's name, or the CPU model."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def peak_memory(device: torch.device) -> dict:
    """Peak memory so far: CUDA max reserved on a GPU, else the process's peak resident set size."""
    if device.type == "cuda":
        return {"bytes": int(torch.cuda.max_memory_reserved(device)), "kind": "cuda_max_memory_reserved"}
    # ru_maxrss is in KiB on Linux.
    return {"bytes": int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "kind": "process_peak_rss"}


def loss_summary(losses: list[float]) -> dict:
    """First/last/min/max and the means of the first and last tenth of a loss curve, plus the curve itself."""
    if not losses:  # nothing trained (e.g. a VAE-only base model: --unet-steps 0)
        return {"curve": []}
    tenth = max(1, len(losses) // 10)
    return {
        "first": losses[0],
        "last": losses[-1],
        "min": min(losses),
        "max": max(losses),
        "mean_first_tenth": sum(losses[:tenth]) / tenth,
        "mean_last_tenth": sum(losses[-tenth:]) / tenth,
        "curve": losses,
    }


def write_json(path: Path, data: dict) -> None:
    """Write JSON through a temporary file and an atomic rename."""
    with atomic_file(path) as tmp, open(tmp, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")


@contextlib.contextmanager
def staged_outputs(out_dir: Path) -> Iterator[Path]:
    """A private staging folder inside `out_dir`; on success its files get an ordinary file's mode (`files.share`)
    and are renamed into `out_dir`; on any error the folder is deleted, so a failed run leaves nothing half-written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out_dir, prefix=".staging-"))
    try:
        yield stage
        for item in sorted(stage.iterdir()):
            os.replace(share(item), out_dir / item.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
