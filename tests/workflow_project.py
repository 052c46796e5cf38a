"""A copy of the project to run the workflow in, as a user runs it (shared by the workflow tests and the SLURM test).

The copy holds the workflow files, data and the three packages; `snakemake()` imports the packages from the copy
(PYTHONPATH), so editing a package there — to check what reruns — never touches the checkout.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROJECT = (
    "Snakefile",
    "environment.yml",
    "workflow",
    "config",
    "data",
    "profiles",
    "plumbing",
    "unziplora",
    "metrics",
    "analysis",
)


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


TINY = "results/tiny"


def mtimes(root: Path, pattern: str) -> dict[str, int]:
    """{path relative to root: mtime in ns} of the files matching `pattern`."""
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.glob(pattern)}


def planned(root: Path, *config: str) -> collections.Counter:
    """rule → jobs a dry run of the tiny preset (with `config` overrides) would run, from Snakemake's "Job stats"."""
    result = snakemake(root, "-n", "--config", "preset=tiny", *config)
    assert result.returncode == 0, result.stderr[-2000:]
    if "Job stats:" not in result.stdout:  # nothing to be done
        return collections.Counter()
    stats = result.stdout.split("Job stats:", 1)[1].split("total", 1)[0]
    return collections.Counter({r: int(n) for r, n in re.findall(r"^(\w+)\s+(\d+)$", stats, flags=re.M)})


def imports_outside_closure(root: Path) -> dict[str, set[str]]:
    """{script: project files its job imported that its rule's code closure lacks} for every job of a run made with
    UNZIPLORA_RECORD_MODULES=<root>/modules (workflow/scripts/_common.py); an empty set for a script whose every
    import is hashed. Raises if no job recorded anything."""
    sys.path.insert(0, str(REPO / "workflow" / "scripts"))
    from _closure import closure

    root = root.resolve()
    out: dict[str, set[str]] = {}
    for path in sorted((root / "modules").glob("*.json")):
        record = json.loads(path.read_text())
        hashed = {str(p.relative_to(root)) for p in closure(root / f"workflow/scripts/{record['script']}.py", root)}
        assert record["files"], record
        out.setdefault(record["script"], set()).update(set(record["files"]) - hashed)
    assert out, f"no job recorded its imports under {root / 'modules'}"
    return out
