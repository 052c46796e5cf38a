"""What every workflow script does first (log redirection, thread count) and the facts tables record.

Scripts are adapters: they read `snakemake.input/output/params/config` and call one package function each.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: The evaluation choices every table records (README §Workflow, "Evaluation choices").
EVALUATION_CHOICES = (
    "reference=the prepared training view (sheet train_file; shorter side to the training resolution, centre crop); "
    "columns=style metrics on style-only images, content metrics on content-only images; "
    "clip_t=prompt with the placeholder token dropped"
)


def start(snakemake) -> dict:
    """Send this job's stdout and stderr (progress, warnings, a traceback) to its log, cap torch's threads to the
    job's, and return the workflow config."""
    log = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - open for the job's whole life
    sys.stdout = sys.stderr = log
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
