"""The toy rules through the `smoke` preset (a fraction of `toy`: one image per tier, M3, B-LoRA on SDXL's blocks and
the base model, a few steps): the tables have the documented columns, per tier too, with no NaN where there is data;
the measured blocks reach the runs; `smoke` is `toy` but for the settings it names."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from .workflow_project import REPO, copy_project, imports_outside_closure, project_env, snakemake

IMAGES = ("bind_star_dots_0", "novel_crescent_plaid_0")
# the oracle table's documented columns (docs/workflow.md, Tables), written out so that a rename fails here
COLUMNS = ("content_fidelity", "style_leakage", "style_leakage_unstyled", "style_leakage_other_style", "style_fidelity",
           "content_leakage", "content_leakage_unshaped", "content_leakage_other_shape", "joint_fidelity",
           "recombination")  # fmt: skip
STATS = ("mean", "lo", "hi", "n_images", "n_units", "seed_sd", "floor")
SMOKE = "results/smoke"


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("toy"))
    (root / "modules").mkdir()  # each job records the project files it imported (tests/test_closure.py)
    env = project_env(root, UNZIPLORA_RECORD_MODULES=str(root / "modules"))
    result = snakemake(root, "--cores", "2", "--config", "preset=smoke", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return root / SMOKE


def test_every_toy_job_imported_only_files_of_its_rules_closure(toy_run):
    missing = imports_outside_closure(toy_run.parents[1])
    assert "oracle_figures" in missing and not any(missing.values()), missing


def test_smoke_is_toy_but_for_the_settings_it_names(toy_run):
    smoke = yaml.safe_load((toy_run / "config.yaml").read_text())
    toy = yaml.safe_load((REPO / "config/presets/toy.yaml").read_text())
    assert smoke["images"] == list(IMAGES) and smoke["model"] == toy["model"] == "data/toy/base_model"
    assert smoke["method_train"] == toy["method_train"] and smoke["metrics"] == toy["metrics"]
    # the toy rank, lr and resolution, fewer steps (config.yaml leaves out what changes no output: progress)
    assert smoke["train"] == {**{k: v for k, v in toy["train"].items() if k != "progress"}, "steps": 6}
    assert set(smoke["methods"]) < set(toy["methods"]) and set(IMAGES) < set(toy["images"])


def test_the_oracle_table_has_its_columns_for_every_method_and_tier(toy_run):
    header = ["method", "label", "mode"] + [f"{c}_{s}" for c in COLUMNS for s in STATS] + ["n_train_seeds"]
    for where in ("", "bind/", "novel/"):
        table = pd.read_csv(toy_run / f"tables/{where}oracle.csv")
        assert list(table.columns[: len(header)]) == header, where
        assert set(table["method"]) == {"unziplora", "blora_sdxl_blocks", "base"}
        assert set(table["mode"]) == {"official", "addition"}
        # the one recombination pair crosses the tiers: it counts in the whole table only
        # pooled columns are filled; a per-kind one may be empty where a tier's one image has no prompt of that kind
        pooled = [c for c in COLUMNS if "_un" not in c and "_other" not in c]
        filled = [f"{c}_{s}" for c in pooled if c != "recombination" or not where for s in ("mean", "lo", "hi")]
        assert not table[filled].isna().any().any(), where
        values = table[[f"{c}_mean" for c in COLUMNS]].to_numpy().ravel()
        assert ((values[~pd.isna(values)] >= 0) & (values[~pd.isna(values)] <= 1)).all()
    assert (pd.read_csv(toy_run / "tables/bind/oracle.csv")["content_fidelity_n_images"] == 1).all()


def test_the_comparison_carries_the_oracle_columns_and_the_runs_their_blocks(toy_run):
    for where in ("", "bind/", "novel/"):
        comparison = pd.read_csv(toy_run / f"tables/{where}comparison.csv")
        for metric in ("shape_right", "style_right", "oracle_content", "oracle_style"):
            assert not comparison[f"{metric}_mean"].isna().any(), (where, metric)
        for table in ("ablation", "winrate"):  # rows for the methods present (win rates: M3 vs the two others)
            assert not pd.read_csv(toy_run / f"tables/{where}{table}.csv").empty, (where, table)
    measured = json.loads((toy_run / f"unziplora/{IMAGES[0]}/train0/run.json").read_text())["block_rule"]
    pinned = json.loads((toy_run / f"blora_sdxl_blocks/{IMAGES[0]}/train0/run.json").read_text())["block_rule"]
    assert measured["content"] == ["down_blocks.1.attentions.1", "up_blocks.1.attentions.0"]
    assert pinned == {"content": ["up_blocks.0.attentions.0"], "style": ["up_blocks.0.attentions.1"]}
    scores = pd.read_csv(toy_run / "scores.csv")
    oracles = {"data/toy/oracles/shape.safetensors", "data/toy/oracles/style.safetensors"}
    assert set(scores["weights_revision"]) == oracles  # the committed oracles, never random weights


def test_the_oracle_figure_is_drawn_over_all_images_and_per_tier(toy_run):
    for where in ("", "bind/", "novel/"):
        for ext, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
            assert (toy_run / f"figures/{where}oracle.{ext}").read_bytes().startswith(magic), (where, ext)
    assert "oracle.png" in (toy_run / "report.html").read_text(errors="replace")
