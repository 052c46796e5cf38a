"""Device slots: one GPU per concurrent job on a multi-GPU workstation, simulated with device ids on CPU.

The jobs here are real processes (as Snakemake's jobs are) that take a slot through the same function the workflow's
job scripts call (`claim_gpus`), so the lock semantics are the kernel's, not a mock's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .workflow_project import REPO

sys.path.insert(0, str(REPO / "workflow" / "scripts"))  # the workflow's own device slots (workflow-only code)
from _devices import DEVICES_ENV, SLOT_DIR_ENV, take_slots, visible_gpus  # noqa: E402

# A job: claim `count` GPUs, report what it was given, hold them for `hold` seconds (or until killed).
JOB = (
    f"import sys; sys.path.insert(0, {str(REPO / 'workflow' / 'scripts')!r})"
    + """
import json, os, time
from _devices import claim_gpus
slots = claim_gpus(int(sys.argv[1]), log=lambda m: None)
print(json.dumps({"visible": os.environ["CUDA_VISIBLE_DEVICES"], "since": slots.since}), flush=True)
time.sleep(float(sys.argv[2]))
print(json.dumps({"until": time.time()}), flush=True)
"""
)


def start_job(slot_dir: Path, devices: str, count: int = 1, hold: float = 2.0) -> subprocess.Popen:
    env = {**os.environ, DEVICES_ENV: devices, SLOT_DIR_ENV: str(slot_dir)}
    env.pop("SLURM_JOB_ID", None)
    return subprocess.Popen(
        [sys.executable, "-c", JOB, str(count), str(hold)], env=env, stdout=subprocess.PIPE, text=True
    )


def first_line(proc: subprocess.Popen) -> dict:
    return json.loads(proc.stdout.readline())


def test_concurrent_jobs_get_distinct_devices(tmp_path):
    jobs = [start_job(tmp_path, "0,1,2,3", hold=3.0) for _ in range(4)]
    given = [first_line(job) for job in jobs]
    ends = [json.loads(job.stdout.readline()) for job in jobs]
    for job in jobs:
        assert job.wait(timeout=30) == 0
    # All four held their slot at the same time (each started before any ended) ...
    assert max(g["since"] for g in given) < min(e["until"] for e in ends)
    # ... and each saw a different single device.
    assert sorted(g["visible"] for g in given) == ["0", "1", "2", "3"]


def test_a_job_waits_while_every_device_is_taken(tmp_path):
    holder = start_job(tmp_path, "0", hold=2.0)
    first_line(holder)
    waiter = start_job(tmp_path, "0", hold=0.0)
    got = first_line(waiter)
    end_of_holder = json.loads(holder.stdout.readline())["until"]
    assert got["visible"] == "0" and got["since"] >= end_of_holder - 0.1
    assert holder.wait(timeout=30) == 0 and waiter.wait(timeout=30) == 0


def test_a_killed_job_releases_its_slot(tmp_path):
    victim = start_job(tmp_path, "0,1", hold=600)
    assert first_line(victim)["visible"] in {"0", "1"}
    other = take_slots(1, ["0", "1"], folder=tmp_path, timeout_s=5)  # the one free device
    with pytest.raises(TimeoutError):
        take_slots(1, ["0", "1"], folder=tmp_path, poll_s=0.1, timeout_s=1)  # both taken now
    victim.send_signal(signal.SIGKILL)  # no exit handler runs: the kernel drops the lock
    victim.wait(timeout=30)
    freed = take_slots(1, ["0", "1"], folder=tmp_path, timeout_s=5)
    assert freed.devices != other.devices
    other.release()
    freed.release()


def test_two_gpus_for_one_job_and_too_many_asked(tmp_path):
    job = start_job(tmp_path, "3,5,7", count=2, hold=0)
    assert first_line(job)["visible"] == "3,5"
    assert job.wait(timeout=30) == 0
    with pytest.raises(ValueError, match="only 3 device"):
        take_slots(4, ["3", "5", "7"], folder=tmp_path)


def test_visible_gpus_reads_the_override_and_a_hiding_mask(monkeypatch):
    monkeypatch.setenv(DEVICES_ENV, "0, 2")
    assert visible_gpus()[0] == ["0", "2"]
    monkeypatch.delenv(DEVICES_ENV)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert visible_gpus() == ([], "CUDA_VISIBLE_DEVICES hides every GPU")


def test_no_slot_under_slurm_or_for_a_cpu_job(tmp_path, monkeypatch):
    from _devices import claim_gpus

    monkeypatch.setenv(DEVICES_ENV, "0")
    monkeypatch.setenv(SLOT_DIR_ENV, str(tmp_path))
    assert claim_gpus(0) is None
    monkeypatch.setenv("SLURM_JOB_ID", "42")  # the scheduler already chose this job's GPUs
    assert claim_gpus(1) is None
    assert not list(tmp_path.iterdir())
