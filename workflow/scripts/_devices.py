"""Which GPUs this machine shows, and one GPU per concurrent job on a workstation (device slots).

Snakemake's `gpu` resource is a counter: it caps how many GPU jobs run at once but never says *which* GPU a job
gets, so every job would land on GPU 0. A job takes a *slot* instead: an exclusive lock on one file per device in a
machine-wide folder, held for the job's whole life and released by the kernel when the process ends, however it
ends (exit, exception, SIGKILL). The job then sees only its device (`CUDA_VISIBLE_DEVICES`).

Light module: no torch import (the workflow plans with it, and `CUDA_VISIBLE_DEVICES` must be set before CUDA
starts).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Overrides the device list (comma-separated ids): use a subset of the GPUs, or simulate devices in tests.
DEVICES_ENV = "UNZIPLORA_DEVICES"
#: Overrides the machine-wide folder holding the slot locks.
SLOT_DIR_ENV = "UNZIPLORA_SLOT_DIR"


def visible_gpus() -> tuple[list[str], str]:
    """(the CUDA device ids jobs may use, how we know), without importing torch.

    Order of authority: `UNZIPLORA_DEVICES`; a `CUDA_VISIBLE_DEVICES` that hides every GPU; the GPUs nvidia-smi
    lists (or, without nvidia-smi, the NVIDIA driver's own list), narrowed to `CUDA_VISIBLE_DEVICES` when it is set.
    """
    if os.environ.get(DEVICES_ENV):
        ids = [d.strip() for d in os.environ[DEVICES_ENV].split(",") if d.strip()]
        return ids, f"{DEVICES_ENV} names {len(ids)} device(s)"
    restricted = os.environ.get("CUDA_VISIBLE_DEVICES")
    if restricted is not None and restricted.strip() in ("", "-1"):
        return [], "CUDA_VISIBLE_DEVICES hides every GPU"
    count, how = _gpu_count()
    if count == 0:
        return [], how
    ids = [str(i) for i in range(count)]
    if restricted is not None:
        # Already narrowed by the caller (or by a scheduler): these ids are the ones CUDA will number 0..n-1.
        ids = [d.strip() for d in restricted.split(",") if d.strip()][:count]
        how += f", narrowed by CUDA_VISIBLE_DEVICES to {len(ids)}"
    return ids, how


def _gpu_count() -> tuple[int, str]:
    if shutil.which("nvidia-smi") is None:
        driver = Path(os.sep, "proc", "driver", "nvidia", "gpus")
        gpus = list(driver.iterdir()) if driver.is_dir() else []
        return len(gpus), (f"the NVIDIA driver lists {len(gpus)} GPU(s)" if gpus else "no nvidia-smi, no NVIDIA driver")
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return 0, "nvidia-smi did not answer"
    count = sum(line.startswith("GPU ") for line in out.splitlines())
    return count, f"nvidia-smi lists {count} GPU(s)" if count else "nvidia-smi lists no GPU"


def slot_dir() -> Path:
    """The machine-wide folder of slot locks (shared by every workflow of this user on this machine)."""
    default = Path(tempfile.gettempdir()) / f"unziplora-gpu-slots-{os.getuid()}"
    return Path(os.environ.get(SLOT_DIR_ENV) or default)


@dataclass
class DeviceSlots:
    """The devices one job holds: open lock files (closing them, or the process ending, frees the devices)."""

    devices: list[str]
    handles: list = field(default_factory=list, repr=False)
    since: float = field(default_factory=time.time)

    def release(self) -> None:
        """Free the devices now (otherwise they are freed when the process ends)."""
        for handle in self.handles:
            handle.close()  # closing the descriptor drops its flock
        self.handles.clear()


def take_slots(
    count: int,
    devices: list[str],
    folder: Path | None = None,
    poll_s: float = 0.5,
    timeout_s: float | None = None,
    on_wait=None,
) -> DeviceSlots:
    """Lock `count` free devices out of `devices` (waiting while all are taken) and return them.

    Waiting happens only when more GPU jobs run than there are devices (e.g. `--resources gpu=8` on 4 GPUs);
    `on_wait(message)` is told once. Raises TimeoutError after `timeout_s`, ValueError if `count > len(devices)`.
    """
    if count > len(devices):
        raise ValueError(
            f"a job asks for {count} GPU(s) but only {len(devices)} device(s) are visible "
            f"({', '.join(devices) or 'none'}); lower the rule's gpu resource or set {DEVICES_ENV}"
        )
    folder = Path(folder or slot_dir())
    folder.mkdir(parents=True, exist_ok=True)
    start, told = time.monotonic(), False
    while True:
        held = DeviceSlots([])
        for device in devices:
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", device)  # MIG ids hold slashes
            handle = open(folder / f"gpu{name}.lock", "a+")  # noqa: SIM115 - held for the job's life
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}\n")  # who holds it, for a curious human
            handle.flush()
            held.devices.append(device)
            held.handles.append(handle)
            if len(held.devices) == count:
                return held
        held.release()  # not enough free: give back what we took, so two waiting jobs cannot deadlock
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            raise TimeoutError(f"no {count} free device slot(s) in {folder} after {timeout_s:.0f} s")
        if on_wait and not told:
            on_wait(f"all {len(devices)} device slot(s) in {folder} are taken; waiting for one to free")
            told = True
        time.sleep(poll_s)


def claim_gpus(count: int, log=print) -> DeviceSlots | None:
    """What a workflow job does before CUDA starts: take `count` device slots and show the job only those
    devices. Nothing to do for a CPU job, or under SLURM (the scheduler already gave the job its own GPUs)."""
    if count <= 0 or os.environ.get("SLURM_JOB_ID"):
        return None
    devices, how = visible_gpus()
    slots = take_slots(count, devices, on_wait=log)
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(slots.devices)
    log(f"device slot: {','.join(slots.devices)} of {len(devices)} ({how}); held from {slots.since:.3f}")
    return slots
