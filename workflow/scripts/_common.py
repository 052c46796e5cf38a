"""What every workflow script does first: log redirection, device slot, thread count, and the config hidden but for
the settings that change no output (`_runtime.Runtime`); every job's settings come as its rule's params
(`_settings.py`). Every job imports this module, so it is in every rule's code hash: keep it small (what only some
jobs write goes in `_outputs.py`). Scripts are adapters: they read `snakemake.input/output/params` and call one
package function each.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from pathlib import Path

# A job's progress bars go to its log file: one update every 30 s there, not ten a second (read when tqdm loads).
os.environ.setdefault("TQDM_MININTERVAL", "30")

from _devices import claim_gpus  # noqa: E402
from _runtime import Runtime  # noqa: E402

_held = []  # this job's device slots (a lock file closed by garbage collection would free the device early)


class HiddenConfig:
    """Stands in for `snakemake.config` in a job: a setting read from the config instead of the rule's params would
    change the output without Snakemake knowing (no rerun, a false provenance), so reading it is an error."""

    def _refuse(self, *args, **kwargs):
        raise RuntimeError(
            "a job read snakemake.config: pass the setting as its rule's params (workflow/scripts/_settings.py); "
            "jobs see only the settings that change no output (_runtime.Runtime, returned by start)"
        )

    __getitem__ = __contains__ = __iter__ = __len__ = get = keys = items = values = _refuse


def _record_modules(folder: str, script: str) -> None:
    """At exit, write the project files this job has imported to `folder` (tests/test_closure.py compares them with
    the rule's computed code closure)."""
    root = Path(__file__).resolve().parents[2]
    ours = ("plumbing", "unziplora", "metrics", "analysis", "toyworld", "workflow")
    paths = {Path(m.__file__).resolve() for m in list(sys.modules.values()) if getattr(m, "__file__", None)}
    files = {str(p.relative_to(root)) for p in paths if p.is_relative_to(root) and p.relative_to(root).parts[0] in ours}
    out = Path(folder) / f"{script}-{os.getpid()}.json"
    out.write_text(json.dumps({"script": script, "files": sorted(files)}))


def start(snakemake) -> Runtime:
    """Send this job's stdout and stderr (progress, warnings, a traceback) to its log, cap torch's threads to the
    job's, and return the settings of the config that change no output (the rest is hidden from the job)."""
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
    if os.environ.get("UNZIPLORA_RECORD_MODULES"):
        script = Path(sys.argv[0]).name.split(".")[-2]  # Snakemake runs a copy named <tmp>.<script>.py
        atexit.register(_record_modules, os.environ["UNZIPLORA_RECORD_MODULES"], script)
    runtime = Runtime.from_env()  # what the planning resolved (common.smk); the config itself stays hidden
    snakemake.config = HiddenConfig()
    return runtime


def run_folder(path: str) -> Path:
    """The folder holding a run.json or manifest file."""
    return Path(path).parent
