"""The workflow on a real single-node SLURM cluster started on this machine (CI runs it: `make test-slurm`, as root).

1. Installs Debian's `slurm-wlm` and `munge` when missing (apt-get).
2. Starts munged, slurmctld and slurmd with state, logs and munge key in a temporary folder and waits for the node
   to be idle. The configuration goes to /etc/slurm/slurm.conf (any file there is put back afterwards): the
   executor plugin's job step drops SLURM_CONF before its nested `srun`, so only the default path works.
3. Runs the `tiny` preset through `profiles/slurm` in a copy of the project, with the profile's test-only settings
   on the command line. While it runs, the first training job is cancelled with `scancel` once it is running.
4. Checks that every job that is not a local rule ran as a SLURM job (its SLURM job id in Snakemake's log and in
   slurmctld's log, no sacct), that the cancelled job was retried and finished, and that the tables exist.
5. Stops the daemons it started, by their pids, whatever happened (exit, exception, Ctrl-C, SIGTERM).

Exit status 0 when every check holds; otherwise the failed check on the last line and a non-zero status.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.workflow_project import copy_project, project_env  # noqa: E402

PACKAGES = ("slurm-wlm", "munge")
# The test-only settings of profiles/slurm/profile.yaml (no accounting database, no accounts, seconds-long jobs).
TEST_ONLY = [
    "--slurm-no-account",
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "5",
    "--seconds-between-status-checks", "5",
]  # fmt: skip


def install() -> None:
    """apt-get the packages that are missing (Debian 12: slurm-wlm 22.05)."""
    if all(shutil.which(tool) for tool in ("slurmctld", "slurmd", "munged", "sbatch")):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *PACKAGES], check=True, env=env, stdout=subprocess.DEVNULL)


def slurm_conf(work: Path, munge_socket: Path) -> str:
    """A one-node cluster: this machine's CPUs, a little less than its memory, one default partition."""
    host = socket.gethostname().split(".")[0]
    mem_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    return f"""\
ClusterName=unziplora-test
SlurmctldHost={host}
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket={munge_socket}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
KillWait=5
MinJobAge=600
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation={work}/state
SlurmdSpoolDir={work}/spool
SlurmctldPidFile={work}/slurmctld.pid
SlurmdPidFile={work}/slurmd.pid
SlurmctldLogFile={work}/slurmctld.log
SlurmdLogFile={work}/slurmd.log
NodeName={host} CPUs={os.cpu_count()} RealMemory={int(mem_mb * 0.9)} State=UNKNOWN
PartitionName=main Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


class Cluster:
    """munged + slurmctld + slurmd, started in the foreground as children and stopped by their pids."""

    def __init__(self, work: Path):
        self.work, self.procs = work, []
        self.conf, self.saved_conf = Path("/etc/slurm/slurm.conf"), work / "slurm.conf.before"
        self.wrote_conf = False
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    def start(self) -> None:
        munge = self.work / "munge"
        munge.mkdir()
        munge.chmod(0o755)  # munged wants its socket folder open to all (clients connect there); the key stays 0400
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        shutil.chown(munge, "munge", "munge")
        shutil.chown(key, "munge", "munge")
        sock = munge / "munge.socket"
        self.conf.parent.mkdir(parents=True, exist_ok=True)
        if self.conf.exists():
            shutil.move(self.conf, self.saved_conf)
        self.conf.write_text(slurm_conf(self.work, sock))
        self.wrote_conf = True
        for sub in ("state", "spool"):
            (self.work / sub).mkdir()
        munged = ["munged", "-F", f"--key-file={key}", f"--socket={sock}", f"--pid-file={munge}/munged.pid",
                  f"--log-file={munge}/munged.log", f"--seed-file={munge}/munged.seed"]  # fmt: skip
        self.spawn(["runuser", "-u", "munge", "--", *munged])
        wait_for(sock.exists, 20, "munged did not create its socket")
        self.spawn(["slurmctld", "-D", "-i"])
        self.spawn(["slurmd", "-D"])
        wait_for(self.idle, 60, f"the node did not become idle; see {self.work}/slurmctld.log and slurmd.log")

    def spawn(self, cmd: list[str]) -> None:
        log = open(self.work / f"{Path(cmd[0]).name}-{len(self.procs)}.out", "w")  # noqa: SIM115
        self.procs.append(subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT))

    def idle(self) -> bool:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=self.env, capture_output=True, text=True).stdout
        return out.strip() == "idle"

    def stop(self) -> None:
        """Terminate every daemon this object started (newest first), then kill what did not exit."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.wrote_conf:
            self.conf.unlink(missing_ok=True)
        if self.saved_conf.exists():
            shutil.move(self.saved_conf, self.conf)


def wait_for(check, seconds: float, message: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"slurm test: {message}")
        time.sleep(0.5)


def cancel_first_training_job(project: Path, env: dict, done: threading.Event, cancelled: list) -> None:
    """scancel the first train_run job whose script is under way (its log open, its "trained" line not yet written),
    once: the job is killed between loading the pipeline and writing its LoRA files."""
    logs = project / "results/tiny/logs/train"
    while not done.is_set():
        out = subprocess.run(["squeue", "-h", "-o", "%i|%T|%k"], env=env, capture_output=True, text=True).stdout
        running = {comment: job for job, state, comment in (line.split("|", 2) for line in out.splitlines())
                   if state == "RUNNING" and comment.startswith("rule_train_run_")}  # fmt: skip
        for log in logs.glob("*/*/train*.log"):
            method, image, seed = log.parts[-3], log.parts[-2], log.stem.removeprefix("train")
            job = running.get(f"rule_train_run_wildcards_tiny_{method}_{image}_{seed}")
            if job and "trained " not in log.read_text():
                subprocess.run(["scancel", job], env=env, check=True)
                cancelled.append((job, f"{method}/{image}/train{seed}", time.time()))
                return
        time.sleep(0.2)


def check(condition: bool, message: str, failures: list) -> None:
    print(("ok   " if condition else "FAIL ") + message)
    if not condition:
        failures.append(message)


def run_tiny(cluster: Cluster, project: Path) -> list[str]:
    """The tiny preset through profiles/slurm; returns the failed checks."""
    env = project_env(project, SLURM_CONF=cluster.env["SLURM_CONF"])
    cmd = [sys.executable, "-m", "snakemake", "--profile", "profiles/slurm", *TEST_ONLY, "--config", "preset=tiny"]
    done, cancelled = threading.Event(), []
    canceller = threading.Thread(target=cancel_first_training_job, args=(project, env, done, cancelled), daemon=True)
    canceller.start()
    started = time.time()
    result = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=1500)
    done.set()
    log = result.stdout + result.stderr
    (project / "snakemake-slurm.log").write_text(log)
    print(f"snakemake --profile profiles/slurm: exit {result.returncode} in {time.time() - started:.0f} s")
    failures: list[str] = []
    check(result.returncode == 0, "the tiny DAG completes on the cluster", failures)
    # Every non-local job: a "rule X:" block with its Snakemake jobid; every submission names its SLURM job id.
    jobs = set(re.findall(r"^rule \w+:\n(?:    .*\n)*?    jobid: (\d+)", log, flags=re.M))
    local = set(re.findall(r"^localrule \w+:\n(?:    .*\n)*?    jobid: (\d+)", log, flags=re.M))
    submitted = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log)
    check(len(jobs) > 10, f"{len(jobs)} cluster jobs and {len(local)} local rule jobs ran", failures)
    check(jobs <= {job for job, _ in submitted}, "every cluster job was submitted with a SLURM job id", failures)
    ctld = (cluster.work / "slurmctld.log").read_text()
    known = set(re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", ctld))
    check({sid for _, sid in submitted} <= known, "slurmctld's log has every one of those SLURM job ids", failures)
    check(len(cancelled) == 1, "a training job was cancelled with scancel while it ran", failures)
    if cancelled:
        job, run, when = cancelled[0]
        check(f"SLURM-job '{job}' failed, SLURM status is: 'CANCELLED'" in log, f"job {job} ({run}) failed", failures)
        check(re.search(r"Trying to restart job \d+", log) is not None, "Snakemake retried it", failures)
        record = project / "results/tiny" / run / "run.json"
        check(record.is_file() and record.stat().st_mtime > when, f"the retry wrote {run}/run.json", failures)
    tables = project / "results/tiny/tables"
    check(all((tables / f"{t}.csv").is_file() for t in ("comparison", "ablation", "winrate")), "tables exist", failures)
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, results) afterwards")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("slurm test: needs root (apt-get, slurmd); run it as root, e.g. in CI or a container")
    install()
    work = Path(tempfile.mkdtemp(prefix="unziplora-slurm-"))
    work.chmod(0o755)  # munged (as user munge) must reach its folder inside
    cluster = Cluster(work / "cluster")
    (work / "cluster").mkdir()
    # Stop the daemons on SIGTERM/SIGINT too: turn them into an exception that reaches the `finally`.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: sys.exit(f"slurm test: stopped by signal {signum}"))
    try:
        cluster.start()
        print(f"cluster up ({work}/cluster)")
        failures = run_tiny(cluster, copy_project(work / "project"))
    finally:
        cluster.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"slurm test: {len(failures)} check(s) failed: {'; '.join(failures)}")
        return 1
    print("slurm test: every check holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
