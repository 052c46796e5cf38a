"""What every workflow script does first (log redirection, device slot, thread count), and the project commit.

Scripts are adapters: they read `snakemake.input/output/params/config` and call one package function each.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import time
from pathlib import Path

# A job's progress bars go to its log file: one update every 30 s there, not ten a second (read when tqdm loads).
os.environ.setdefault("TQDM_MININTERVAL", "30")

from unziplora.devices import claim_gpus  # noqa: E402

_held = []  # this job's device slots (a lock file closed by garbage collection would free the device early)


def start(snakemake) -> dict:
    """Send this job's stdout and stderr (progress, warnings, a traceback) to its log, cap torch's threads to the
    job's, and return the workflow config."""
    log = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - open for the job's whole life
    sys.stdout = sys.stderr = log
    # Before CUDA starts: lock this job's own GPU(s) on a multi-GPU workstation; kept referenced for the job's life
    # (the kernel frees the lock when the process ends, crash included).
    slots = claim_gpus(int(snakemake.resources.get("gpu", 0) or 0))
    if slots is not None:
        _held.append(slots)
        atexit.register(lambda: print(f"device slot released at {time.time():.3f}"))
    if "torch" in sys.modules or snakemake.rule in {"train_run", "base_record", "sample", "recombine", "score"}:
        import torch

        torch.set_num_threads(max(1, int(snakemake.threads)))
    return snakemake.config


def run_folder(path: str) -> Path:
    """The folder holding a run.json or manifest file."""
    return Path(path).parent


def project_commit() -> str:
    """The project's git commit ("+dirty" with uncommitted changes), or "unknown" outside a checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")
