"""Scale-out: what each rule asks a cluster for (a dry run with profiles/slurm), and one device per concurrent GPU job
on a workstation (simulated devices on CPU). The run on a real SLURM cluster is tests/slurm_cluster.py (CI)."""

from __future__ import annotations

import re

import yaml

from .workflow_project import REPO, copy_project, project_env, snakemake

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
# Which config `resources` group each rule's jobs take (the rest are local bookkeeping rules).
STAGE = {"train_run": "train", "base_record": "train", "sample": "sample", "recombine": "sample", "score": "score"}
LIGHT = {"prepare_image", "tiny_model", "random_metric_weights", "make_tables", "summary_figures",
         "grid", "recombination_figures", "html_report"}  # fmt: skip
LOCAL = {"all", "aggregate", "resolved_config"}  # the Snakefile's localrules in these DAGs: never submitted


def requested(dry_run_output: str) -> dict[str, set[tuple]]:
    """rule → the distinct (gpu, mem_mb, runtime) its jobs request, read from a dry run's job blocks."""
    found: dict[str, set[tuple]] = {}
    for rule, body in re.findall(r"^rule (\w+):\n((?:    .*\n)+)", dry_run_output, flags=re.M):
        line = re.search(r"^    resources: (.*)$", body, flags=re.M).group(1)
        res = dict(item.split("=", 1) for item in line.split(", "))
        found.setdefault(rule, set()).add((int(res.get("gpu", 0)), int(res["mem_mb"]), int(res["runtime"])))
    return found


def expected(preset: dict, rule: str) -> tuple:
    group = STAGE.get(rule, "light")
    defaults = SCHEMA["properties"]["resources"]["properties"][group]["properties"]
    want = {k: v["default"] for k, v in defaults.items() if "default" in v} | preset.get("resources", {}).get(group, {})
    gpu = want.get("gpu", int(preset.get("device") == "cuda" and group != "light"))
    return (gpu, want["mem_mb"], want["runtime"])


def test_slurm_dry_run_shows_what_each_rule_requests(tmp_path):
    root = copy_project(tmp_path)
    for name in ("paper", "tiny"):
        preset = yaml.safe_load((REPO / f"config/presets/{name}.yaml").read_text())
        result = snakemake(root, "-n", "--profile", "profiles/slurm", "--config", f"preset={name}", timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        asks = {rule: seen for rule, seen in requested(result.stdout).items() if rule not in LOCAL}
        assert set(STAGE) <= set(asks) <= set(STAGE) | LIGHT, f"{name}: rules submitted to the cluster"
        for rule, seen in asks.items():
            assert seen == {expected(preset, rule)}, f"{name}: {rule} requests {seen}"
        gpu_rules = {rule for rule, seen in asks.items() if any(gpu for gpu, _, _ in seen)}
        # The GPU preset puts training, sampling and scoring on a GPU; the CPU preset asks for none at all.
        assert gpu_rules == (set(STAGE) if preset["device"] == "cuda" else set()), name


def test_concurrent_gpu_jobs_of_the_workflow_hold_distinct_device_slots(tmp_path):
    """Two simulated devices, three cores: the default gpu count (2, from the devices) lets two training jobs run at
    once, each on its own device; none has to wait for a slot. The training runs take 60 steps instead of the preset's 6
    so that each holds its slot for ~18 s: Snakemake starts the two ready jobs up to ~5 s apart (seen under load), and
    at 6 steps (~4 s held) that stagger left them apart in about one CI run in ten."""
    root = copy_project(tmp_path / "project")
    env = project_env(root, UNZIPLORA_DEVICES="0,1", UNZIPLORA_SLOT_DIR=str(tmp_path / "slots"))
    result = snakemake(
        root,
        "train",
        "--cores",
        "3",
        "--config",
        "preset=tiny",
        "resources={train: {gpu: 1}}",
        "train={steps: 60}",
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    held = []
    for log in (root / "results/tiny/logs/train").glob("*/*/train0.log"):
        text = log.read_text()
        taken = re.search(r"device slot: (\S+) of 2 .*held from ([\d.]+)", text)
        released = re.search(r"device slot released at ([\d.]+)", text)
        assert taken and released, f"{log}: {text[-500:]}"
        assert "waiting" not in text
        held.append((taken.group(1), float(taken.group(2)), float(released.group(1))))
    preset = yaml.safe_load((REPO / "config/presets/tiny.yaml").read_text())
    assert len(held) == len(preset["methods"]) * len(preset["images"])  # every run, the base model's record too
    overlapping = [(a, b) for i, a in enumerate(held) for b in held[i + 1 :] if a[1] < b[2] and b[1] < a[2]]
    assert overlapping, "no two training jobs ran at the same time: the test proves nothing"
    assert all(a[0] != b[0] for a, b in overlapping), overlapping
    assert {slot for slot, _, _ in held} == {"0", "1"}
