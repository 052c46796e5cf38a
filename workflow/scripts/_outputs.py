"""What jobs write besides their outputs' contents: JSON records (atomically), the project commit, and a refusal as
one line on the console. Not imported by training jobs, so editing it retrains nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def write_json_atomic(path: str | Path, data) -> None:
    """JSON through a temporary file and a rename (nothing half-written)."""
    from plumbing.files import atomic_file

    with atomic_file(Path(path)) as tmp:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")


def refuse(message: str) -> None:
    """End the job with one line naming the problem and the fix, on the console as well as in the job's log."""
    line = f"unziplora workflow: error: {message}"
    print(line, file=sys.__stderr__, flush=True)
    print(line, flush=True)
    sys.exit(1)


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
