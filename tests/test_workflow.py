"""The Snakemake workflow, run as a user runs it: `python -m snakemake` in a copy of the project.

Each test works in a temporary copy (tests/workflow_project.py). The `tiny` preset runs once per session (a few
minutes on 2 cores); tests that change things copy that finished run first.
"""

from __future__ import annotations

import collections
import contextlib
import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from metrics.registry import METRICS
from unziplora.methods import METHODS, standard_methods

from .workflow_project import (
    REPO,
    TINY,
    copy_project,
    imports_outside_closure,
    mtimes,
    planned,
    project_env,
    snakemake,
)


def test_paper_dry_run_plans_sheet_times_registry_times_stage(tmp_path):
    root = copy_project(tmp_path)
    result = snakemake(root, "--d3dag", "--config", "preset=paper")
    assert result.returncode == 0, result.stderr[-2000:]
    counts = collections.Counter(n["value"]["rule"] for n in json.loads(result.stdout)["nodes"])
    sheet = pd.read_csv(REPO / "data/images.tsv", sep="\t")
    preset = yaml.safe_load((REPO / "config/presets/paper.yaml").read_text())
    standard = [METHODS[k] for k in standard_methods()]  # every method but the variants pinned to SDXL's blocks
    images, methods = len(sheet), len(standard)
    trained = sum(m.trains for m in standard)
    seeds = len(preset["train_seeds"])
    pairs = [(c, s) for c in preset["recombination"]["contents"] for s in preset["recombination"]["styles"] if c != s]
    assert counts["prepare_image"] == images
    assert counts["train_run"] == images * trained * seeds
    assert counts["base_record"] == images * (methods - trained) * seeds
    assert counts["sample"] == images * methods * seeds
    assert counts["recombine"] == len(pairs) * methods * seeds
    assert counts["score"] == methods
    assert counts["grid"] == images
    for rule in ("aggregate", "make_tables", "summary_figures", "recombination_figures", "html_report", "all"):
        assert counts[rule] == 1, rule
    assert counts["tiny_model"] == 0 and counts["random_metric_weights"] == 0  # the paper preset downloads


def test_lint_is_clean(tmp_path):
    """Every rule has log, benchmark and conda; no absolute paths; scripts, not long run blocks."""
    root = copy_project(tmp_path)
    result = snakemake(root, "--lint", "--config", "preset=paper")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


def test_command_line_config_is_typed_and_subsets_the_dag(tmp_path):
    """--config values arrive as strings from Snakemake; numbers and lists of them must still work."""
    root = copy_project(tmp_path)

    def rules(*config: str) -> collections.Counter:
        result = snakemake(root, "--d3dag", "--config", "preset=tiny", *config)
        assert result.returncode == 0, result.stderr[-2000:]
        return collections.Counter(n["value"]["rule"] for n in json.loads(result.stdout)["nodes"])

    one, two = rules(), rules("train_seeds=[0,1]", "train={steps: 8, lora: {lr: 1e-4}}")
    assert two["train_run"] == 2 * one["train_run"] > 0
    subset = rules("images=[square_stripes]", "methods=[blora]")
    assert subset["train_run"] == 1 and subset["sample"] == 1 and subset["recombine"] == 0


def test_tiny_produces_every_table_and_figure(tiny_run):
    out = tiny_run / TINY
    preset = yaml.safe_load((REPO / "config/presets/tiny.yaml").read_text())
    methods = preset["methods"]
    comparison = pd.read_csv(out / "tables/comparison.csv")
    assert list(comparison["method"]) == methods
    for metric in preset["metrics"]:
        for suffix in ("mean", "lo", "hi"):
            column = comparison[f"{metric}_{suffix}"]
            assert column.notna().all(), f"{metric}_{suffix}"
    for name in ("comparison", "ablation", "winrate", "per_image", "recombination"):
        table = pd.read_csv(out / f"tables/{name}.csv")
        assert len(table) > 0, name
        assert {"commit", "config_hash", "preset", "weights", "choices"} <= set(table.columns), name
        assert (table["preset"] == "tiny").all()
        assert (out / f"tables/{name}.md").stat().st_size > 0
    # Empty cells only where there is nothing to show: the paper's values where the paper has none, and the
    # ablation's step difference on its first row (no previous step).
    for name in ("comparison", "ablation", "winrate", "per_image", "recombination"):
        table = pd.read_csv(out / f"tables/{name}.csv")
        paper = [c for c in table.columns if c.endswith("_paper") or c.startswith("paper_")]
        steps = [c for c in table.columns if "_step" in c]
        assert table.drop(columns=paper + steps).notna().all().all(), name
        assert table[steps].iloc[1:].notna().all().all(), name
    for metric in ("clip_i", "dino"):  # the paper reports these for UnZipLoRA
        assert comparison.set_index("method").loc["unziplora", f"{metric}_paper"] > 0
    assert set(comparison["reference_verified"]) == {"no"} and "inspiration_tree" in comparison["reference_not_run"][0]
    ablation = pd.read_csv(out / "tables/ablation.csv")
    assert list(ablation["method"]) == [m for m in ("joint", "prompt_sep", "column_sep", "unziplora") if m in methods]
    winrate = pd.read_csv(out / "tables/winrate.csv")
    assert winrate["win_rate"].between(0, 1).all() and winrate[["lo", "hi"]].notna().all().all()
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores["metric"]) == set(preset["metrics"]) and scores["value"].notna().all()
    assert set(scores["kind"]) == {"content", "style", "combined"}
    assert set(scores.loc[scores["kind"] == "combined", "mode"]) == {"official", "addition"}
    assert set(scores["task"]) == {"decomposition", "recombination"}
    # CLIP-T reads the prompt without the placeholder token.
    token_prompts = scores.loc[scores["prompt"].str.contains("monadikos"), "clip_t_prompt"]
    assert len(token_prompts) and not token_prompts.str.contains("monadikos").any()
    for name in ("metric_bars", "ablation_plot", "lora_similarity", "mask_fractions"):
        for ext in ("png", "pdf"):
            assert (out / f"figures/{name}.{ext}").stat().st_size > 0, name
    for image in preset["images"]:
        assert (out / f"figures/grids/{image}.png").stat().st_size > 0
    for method in methods:
        assert (out / f"figures/recombination/{method}.png").stat().st_size > 0
    report = (out / "report.html").read_text(errors="replace")
    assert "comparison.csv" in report and "metric_bars.png" in report
    for method in methods:
        run = json.loads((out / f"{method}/square_stripes/train0/run.json").read_text())
        assert run["method"] == method
        files = {"content.safetensors", "style.safetensors"} if METHODS[method].trains else set()
        assert files <= {p.name for p in (out / f"{method}/square_stripes/train0").iterdir()}


def test_metric_names_in_tables_come_from_the_registry(tiny_run):
    per_image = pd.read_csv(tiny_run / TINY / "tables/per_image.csv")
    assert set(per_image["metric"]) <= set(METRICS)


def test_deleting_one_lora_reruns_only_its_branch(tiny_copy):
    out = tiny_copy / TINY
    runs_before = mtimes(out, "*/*/train0/run.json")
    scores_before = mtimes(out, "scores/*.csv")
    (out / "unziplora/square_stripes/train0/content.safetensors").unlink()  # one LoRA (write-protected: root here)
    result = snakemake(tiny_copy, "--cores", "2", "--config", "preset=tiny")
    assert result.returncode == 0, result.stderr[-3000:]
    runs_after = mtimes(out, "*/*/train0/run.json")
    assert set(runs_after) == set(runs_before)
    changed = {k for k in runs_after if runs_after[k] != runs_before.get(k)}
    assert changed == {"unziplora/square_stripes/train0/run.json"}
    scores_after = mtimes(out, "scores/*.csv")
    assert {k for k in scores_after if scores_after[k] != scores_before[k]} == {"scores/unziplora.csv"}


def test_editing_a_metric_module_reruns_scoring_not_training_or_sampling(tiny_copy):
    out = tiny_copy / TINY
    kept = {**mtimes(out, "*/*/train0/run.json"), **mtimes(out, "**/manifest.csv")}
    scores_before = mtimes(out, "scores/*.csv")
    with open(tiny_copy / "metrics/score.py", "a") as fh:
        fh.write("\n# an edit that changes the code's hash\n")
    result = snakemake(tiny_copy, "--cores", "2", "--config", "preset=tiny")
    assert result.returncode == 0, result.stderr[-3000:]
    assert {**mtimes(out, "*/*/train0/run.json"), **mtimes(out, "**/manifest.csv")} == kept
    scores_after = mtimes(out, "scores/*.csv")
    assert all(scores_after[k] > scores_before[k] for k in scores_before)


@pytest.mark.parametrize(
    ("edited", "reruns", "keeps"),
    [
        ("analysis/figures.py", {"summary_figures", "grid", "recombination_figures", "html_report"},
         {"train_run", "sample", "recombine", "score", "make_tables"}),
        ("analysis/markdown.py", {"make_tables", "html_report"}, {"train_run", "sample", "recombine", "score"}),
        ("analysis/writing.py", {"make_tables", "html_report"}, {"train_run", "sample", "recombine", "score"}),
        ("unziplora/generate.py", {"sample", "recombine", "score", "make_tables"}, {"train_run", "base_record"}),
        ("workflow/scripts/_checks.py", {"make_tables", "html_report"}, {"train_run", "sample", "recombine", "score"}),
    ],
)  # fmt: skip
def test_editing_code_plans_reruns_of_exactly_the_rules_that_use_it(tiny_copy, edited, reruns, keeps):
    assert planned(tiny_copy) == collections.Counter()  # the finished run is up to date
    with open(tiny_copy / edited, "a") as fh:
        fh.write("\n# an edit that changes the code's hash\n")
    plan = planned(tiny_copy)
    assert reruns <= set(plan) and not keeps & set(plan), plan


def test_editing_training_code_stops_before_any_job_then_retrains_every_run(tiny_copy):
    """The LoRAs are protected: a change to the code training runs stops planning with the folders to remove; once
    they are gone, every run of the selection is retrained (the base model's record too: same code)."""
    with open(tiny_copy / "unziplora/train.py", "a") as fh:
        fh.write("\n# an edit that changes the code's hash\n")
    result = snakemake(tiny_copy, "-n", "--config", "preset=tiny")
    assert result.returncode == 1
    error = one_error_line(result)
    assert "the training code (import closure of workflow/scripts/train.py)" in error
    preset = yaml.safe_load((REPO / "config/presets/tiny.yaml").read_text())
    trained = [m for m in preset["methods"] if METHODS[m].trains]
    folders = [f"{TINY}/{m}/{i}/train0" for m in trained for i in preset["images"]]
    assert all(f in error for f in folders), error
    for folder in folders:
        shutil.rmtree(tiny_copy / folder)
    plan = planned(tiny_copy)
    assert plan["train_run"] == len(trained) * len(preset["images"]) and plan["base_record"] == len(preset["images"])


DOWNSTREAM = {"aggregate", "make_tables", "summary_figures", "html_report"}


@pytest.mark.parametrize(
    ("change", "reruns", "keeps"),
    [
        ("sample={steps: 3}", {"sample", "recombine", "score", "grid"} | DOWNSTREAM, {"train_run", "base_record"}),
        ("metrics=[clip_i, dino]", {"score"} | DOWNSTREAM, {"train_run", "base_record", "sample", "recombine"}),
        ("tables={bootstrap: 100}", {"make_tables", "summary_figures", "html_report"},
         {"train_run", "base_record", "sample", "recombine", "score", "aggregate"}),
        ("description=another", {"resolved_config", "html_report"}, {"train_run", "sample", "score", "make_tables"}),
    ],
    ids=["sample", "metrics", "tables", "report"],
)  # fmt: skip
def test_a_changed_setting_plans_exactly_its_stage_and_what_follows(tiny_copy, change, reruns, keeps):
    plan = planned(tiny_copy, change)
    assert reruns <= set(plan) and not keeps & set(plan), plan


def test_settings_that_change_no_output_remake_nothing(tiny_copy):
    """All at once (one dry run; tests/test_settings.py checks each key alone): scheduling, devices, batch sizes,
    progress bars and where the images are read from."""
    changes = ["threads={train: 2, sample: 2}", "resources={train: {mem_mb: 2500}}", "device=auto",
               "sample={batch_size: 3}", "metric_options={batch_size: 4}", "train={progress: true}",
               "images_dir=data/tiny/"]  # fmt: skip
    assert planned(tiny_copy, *changes) == collections.Counter()


def test_a_changed_train_setting_stops_before_any_job_and_names_the_folders(tiny_copy):
    """The issue's sequence: a run with 6 steps, then `train={steps: 7}`. Planning stops (the LoRAs are protected)
    naming the setting and the run folders; nothing is run or rewritten, so no table can state 7 steps. Once those
    folders are removed, exactly their runs are retrained, and the tables then record 7."""
    out = tiny_copy / TINY
    before = {**mtimes(out, "**/*.json"), **mtimes(out, "**/*.csv")}
    result = snakemake(tiny_copy, "--cores", "2", "--config", "preset=tiny", "train={steps: 7}")
    assert result.returncode == 1
    error = one_error_line(result)
    folders = [f"{TINY}/unziplora/{i}/train0" for i in ("circle_dots", "square_stripes")]
    assert "train.steps: 6 → 7" in error and all(f in error for f in folders), error
    assert {**mtimes(out, "**/*.json"), **mtimes(out, "**/*.csv")} == before
    for folder in folders:
        shutil.rmtree(tiny_copy / folder)
    plan = planned(tiny_copy, "train={steps: 7}")
    assert plan["train_run"] == 2 and plan["base_record"] == 0 and plan["sample"] == 2, plan


def test_tables_refuse_scores_made_with_other_settings(tiny_copy):
    """Snakemake told to look at modification times only (so nothing is resampled) and to remake the tables: the
    tables job finds the scores' sample settings differ from the config's and stops with one line, writing no table."""
    args = ["tables", "--cores", "1", "--rerun-triggers", "mtime", "--forcerun", "make_tables"]
    result = snakemake(tiny_copy, *args, "--config", "preset=tiny", "sample={steps: 3}")
    assert result.returncode != 0
    error = one_error_line(result)
    assert "were sampled with other settings (sample.steps: 2 → 3)" in error, error
    assert not (tiny_copy / TINY / "tables/comparison.csv").exists()


def test_tables_record_the_settings_their_inputs_were_made_with(tiny_run):
    made = json.loads((tiny_run / TINY / "tables/provenance.json").read_text())
    run = json.loads((tiny_run / TINY / "unziplora/square_stripes/train0/run.json").read_text())
    assert made["settings"]["train"]["unziplora"]["train"] == run["settings"]["train"]
    assert made["settings"]["train"]["unziplora"]["train"]["steps"] == 6
    assert made["settings"]["sample"]["sample"]["steps"] == 2 and made["code"]["train"] == [run["code"]]
    comparison = pd.read_csv(tiny_run / TINY / "tables/comparison.csv").set_index("method")
    assert set(comparison["config_hash"]) == {made["config_hash"]}
    # each row carries its own method's training settings (they differ on purpose), as recorded by its runs
    train = {m: "s" + hashlib.sha256(json.dumps(t, sort_keys=True).encode()).hexdigest()[:12]
             for m, t in made["settings"]["train"].items()}  # fmt: skip
    assert comparison["train_settings"].to_dict() == train and len(set(train.values())) == 2


def test_committed_toy_full_scores_rebuild_their_tables_with_their_manifest(tmp_path):
    """data/toy/full/scores hold scores without run folders and, beside them, what made them: the tables rebuild
    from them alone (one method, for time) and are checked like any run's; a changed setting is refused."""
    root = copy_project(tmp_path)
    scores = root / "results/toy-full/scores"
    scores.mkdir(parents=True)
    packed = (REPO / "data/toy/full/scores/unziplora.csv.gz").read_bytes()
    (scores / "unziplora.csv").write_bytes(gzip.decompress(packed))
    shutil.copy(REPO / "data/toy/full/scores/unziplora.json", scores / "unziplora.json")
    config = ["--config", "preset=toy-full", "methods=[unziplora]", "tables={bootstrap: 50}"]
    refused = snakemake(root, "tables", "--cores", "1", *config, "sample={steps: 30}")
    assert refused.returncode != 0 and "sampled with other settings (sample.steps: 25 → 30)" in one_error_line(refused)
    result = snakemake(root, "tables", "--cores", "1", *config)
    assert result.returncode == 0, result.stderr[-3000:]
    oracle = pd.read_csv(root / "results/toy-full/tables/bind/oracle.csv")
    assert list(oracle["method"].unique()) == ["unziplora"]
    made = json.loads((root / "results/toy-full/tables/provenance.json").read_text())
    assert made["code"]["train"] == ["commit 52d218c"]
    assert made["settings"]["train"]["unziplora"]["train"]["lora"]["rank"] == 16


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The one line of the project's own error in a failed run's output."""
    lines = (result.stdout + result.stderr).splitlines()
    errors = [line for line in lines if line.startswith("unziplora workflow: error:")]
    assert len(errors) == 1, (result.stdout + result.stderr)[-3000:]
    return errors[0]


def session_processes(session: int, needle: str) -> list[int]:
    """Pids of the processes of a session whose command line contains `needle` (from /proc, no extra tools)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(fields[3]) == session and needle in cmdline:  # fields[3]: the session id
            found.append(int(stat.parent.name))
    return found


def test_sigterm_mid_training_leaves_nothing_complete_and_rerun_finishes(tiny_copy):
    """The training job's process gets SIGTERM (the OOM killer, a cluster's scancel, a user's kill): Snakemake
    records the failure and keeps no output; the next run trains it again and finishes."""
    run = tiny_copy / TINY / "unziplora/square_stripes/train9"
    target = str((run / "run.json").relative_to(tiny_copy))
    env = project_env(tiny_copy)
    long = "train={steps: 100000, resolution: 32, lora: {rank: 4}, progress: false}"
    # train_seeds: the finished seed-0 runs are not selected, so their other steps do not stop planning
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", target, "--cores", "1", "--config", "preset=tiny", long, "train_seeds=[9]"],
        cwd=tiny_copy,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        log = tiny_copy / TINY / "logs/train/unziplora/square_stripes/train9.log"
        deadline = time.monotonic() + 300
        while not (log.is_file() and "Loading pipeline components" in log.read_text(errors="replace")):
            assert proc.poll() is None and time.monotonic() < deadline, "training never started"
            time.sleep(0.5)
        time.sleep(3)  # inside the training loop
        jobs = session_processes(proc.pid, ".train.py")
        assert len(jobs) == 1, jobs
        os.kill(jobs[0], signal.SIGTERM)
        assert proc.wait(timeout=120) != 0
    finally:  # never leave a 100000-step training behind, whatever failed above
        for pid in session_processes(proc.pid, ""):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
    leftovers = [p.name for p in run.iterdir() if not p.name.startswith(".")] if run.exists() else []
    assert leftovers == [], leftovers
    result = snakemake(tiny_copy, target, "--cores", "1", "--config", "preset=tiny", "train_seeds=[9]")
    assert result.returncode == 0, result.stderr[-3000:]
    assert {"run.json", "content.safetensors", "style.safetensors"} <= {p.name for p in run.iterdir()}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (["preset=nope"], "unknown preset 'nope'"),
        (["preset=tiny", "colour=blue"], "'colour' was unexpected"),
        (["preset=tiny", "train_seeds=abc"], "train_seeds: 'abc' is not of type 'array'"),
        (["preset=tiny", "images=[nope]"], "unknown image id 'nope'"),
        (["preset=tiny", "methods=[nope]"], "unknown method 'nope'"),
        (["preset=tiny", "metrics=[nope]"], "unknown metric 'nope'"),
        (["preset=tiny", "images_dir=missing"], "is missing"),
        (["preset=tiny", "train={stepz: 5}"], "train: Additional properties are not allowed ('stepz' was unexpected)"),
        (["preset=tiny", "train={gradient_checkpointing: yes}"], "'yes' is not one of ['auto', 'on', 'off']"),
        (["preset=tiny", "method_train={nosuch: {steps: 3}}"], "unknown method(s) ['nosuch']"),
        (
            [
                "preset=tiny",
                "methods=[unziplora_tie_break]",
                "method_train={unziplora_tie_break: {columns: {tie_break: false}}}",
            ],
            "method_train.unziplora_tie_break sets columns.tie_break, which the variant pins",
        ),
        (
            ["preset=tiny", "methods=[unziplora_tie_break]", "train={columns: {tie_break: false}}"],
            "pins columns.tie_break",
        ),
        (["preset=tiny", "train={lora: {rnk: 4}}"], "train.lora: Additional properties are not allowed ('rnk' was"),
        (["preset=tiny", "methods=[column_sep_calibrated]"], "column_sep_calibrated needs columns.ratio set for it"),
        (["preset=tiny", "metric_options={batchsize: 3}"], "('batchsize' was unexpected)"),
        (["preset=tiny", "metric_options={models: {clip_i: nope}}"], "set to unknown model 'nope'"),
        (["preset=tiny", "resources={train: {gpu: 2}}"], "resources.train.gpu"),
        (["preset=tiny", "train={seed: 3}"], "train.seed is not a setting (training seeds come from train_seeds)"),
        (["preset=tiny", "method_train={base: {method: joint}}"], "method_train.base.method is not a setting"),
    ],
)
def test_bad_config_stops_before_any_job_with_one_line(tmp_path, config, expected):
    root = copy_project(tmp_path)
    result = snakemake(root, "-n", "--config", *config)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("unziplora workflow: error:")]
    assert len(errors) == 1 and expected in errors[0], result.stderr[-2000:]
    assert not (root / "results").exists()


def test_checksum_mismatch_stops_planning(tmp_path):
    root = copy_project(tmp_path)
    image = root / "data/tiny/square_stripes.png"
    image.write_bytes(image.read_bytes() + b"\0")
    result = snakemake(root, "-n", "--config", "preset=tiny")
    assert result.returncode == 1
    assert "unziplora workflow: error: checksum mismatch" in result.stderr


def test_corrupt_image_fails_its_job_and_writes_no_table(tmp_path):
    root = copy_project(tmp_path)
    corrupt = root / "data/tiny/square_stripes.png"
    corrupt.write_bytes(b"not a png at all")
    sheet = (root / "data/tiny/images.tsv").read_text()
    real = "3ce1e35c6a26c815a35544e65f698acd7471d62b1583f78561fd2b0d924378df"
    from unziplora.dataset import sha256_of

    (root / "data/tiny/images.tsv").write_text(sheet.replace(real, sha256_of(corrupt)))
    result = snakemake(root, "tables", "--cores", "2", "--config", "preset=tiny")
    assert result.returncode != 0
    log = (root / TINY / "logs/prepare_image/square_stripes.log").read_text()
    assert "cannot read image" in log
    assert not (root / TINY / "images/square_stripes.png").exists()
    assert not (root / TINY / "tables").exists()


@pytest.mark.parametrize(
    ("gpus", "chosen"),
    [({"UNZIPLORA_DEVICES": "", "CUDA_VISIBLE_DEVICES": ""}, "toy"), ({"UNZIPLORA_DEVICES": "0"}, "paper")],
    ids=["no-gpu", "one-gpu"],
)
def test_preset_auto_picks_toy_without_a_gpu_and_paper_with_one(tmp_path, gpus, chosen):
    """The default config (`preset: auto`): a dry run plans the whole DAG under results/<chosen>/ and says why."""
    root = copy_project(tmp_path)
    result = snakemake(root, "-n", env=project_env(root, **gpus))
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"preset auto -> {chosen} (" in result.stderr
    other = {"toy": "paper", "paper": "toy"}[chosen]
    assert f"results/{chosen}/" in result.stdout and f"results/{other}/" not in result.stdout


def test_column_probe_reports_each_rounds_kept_fraction_and_trains_no_run(tiny_copy):
    """`snakemake column_probe`: every column method of the selection, image and seed, probed up to the last selection
    round; the faithful rule keeps nothing on the tiny UNet (every score ties), the tie-break rule exactly
    floor(0.1 · 64) = 6 of each shared layer's 64 output channels per round. No run is trained, no LoRA written."""
    modules = tiny_copy / "modules"
    shutil.rmtree(modules)
    modules.mkdir()
    env = project_env(tiny_copy, UNZIPLORA_RECORD_MODULES=str(modules))
    loras = mtimes(tiny_copy, f"{TINY}/**/*.safetensors")
    args = ["column_probe", "--cores", "2", "--config", "preset=tiny", "methods=[unziplora,unziplora_tie_break]"]
    result = snakemake(tiny_copy, *args, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    probe = tiny_copy / TINY / "column_probe"
    summary = pd.read_csv(probe / "kept.csv")
    shared = summary[(summary["group"] == "shared") & (summary["adapter"] == "content")].set_index(["method", "round"])
    assert shared.loc["unziplora_tie_break", "mean"].tolist() == pytest.approx([6 / 64, 12 / 64, 18 / 64])
    assert shared.loc["unziplora", "max"].eq(0.0).all() and shared["n_runs"].eq(2).all()  # 2 images × 1 seed
    assert shared.loc["unziplora", "nominal"].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert (probe / "kept.png").stat().st_size > 0 and len(pd.read_csv(probe / "runs.csv")) == 2 * 2 * 3 * 3 * 2
    assert mtimes(tiny_copy, f"{TINY}/**/*.safetensors") == loras  # nothing retrained, nothing new
    assert not (tiny_copy / TINY / "unziplora_tie_break").exists()
    missing = imports_outside_closure(tiny_copy)
    assert set(missing) == {"column_probe", "column_probe_summary"} and not any(missing.values()), missing
