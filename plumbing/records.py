"""Run records and outputs that appear whole: library versions, loss summaries, JSON files and staged folders."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from plumbing.files import atomic_file, share

#: The libraries that decide a run's numbers (recorded in every run record).
PACKAGES = ("torch", "diffusers", "transformers", "peft", "accelerate", "safetensors", "numpy", "pillow")


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Versions of Python and of `packages` ("not installed" for a missing one)."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


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


def write_json(path: str | Path, data: dict) -> None:
    """Write `data` as indented, key-sorted JSON through a temporary file and an atomic rename."""
    with atomic_file(path) as tmp, open(tmp, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")


@contextlib.contextmanager
def staged_outputs(out_dir: str | Path) -> Iterator[Path]:
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
