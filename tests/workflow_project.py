"""A copy of the project to run the workflow in, as a user runs it (shared by the workflow tests and the SLURM test).

The copy holds the workflow files, data and the three packages; `snakemake()` imports the packages from the copy
(PYTHONPATH), so editing a package there — to check what reruns — never touches the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROJECT = ("Snakefile", "environment.yml", "workflow", "config", "data", "profiles", "unziplora", "metrics", "analysis")


def copy_project(dst: Path) -> Path:
    """The files a workflow run needs, copied (no results, no metadata)."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in PROJECT:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst / name)
    return dst


def project_env(cwd: Path, **extra: str) -> dict[str, str]:
    """This process's environment, importing the packages of the copy at `cwd`, with no inherited preset."""
    env = {k: v for k, v in os.environ.items() if k != "UNZIPLORA_PRESET"}
    return {**env, "PYTHONPATH": str(cwd), **extra}


def snakemake(cwd: Path, *args: str, timeout: int = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m snakemake ARGS` in `cwd`, importing the packages copied there."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd,
        env=env or project_env(cwd),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
