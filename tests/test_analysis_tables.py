"""The result tables on hand-made score frames with known answers: which image kinds make which column, paired
differences, metric win rates, provenance, the paper's reference numbers and atomic writing."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from analysis.markdown import Render, comparison_markdown
from analysis.stats import BootstrapConfig
from analysis.tables import (
    Provenance,
    ablation_table,
    comparison_table,
    load_reference,
    per_image_table,
    recombination_table,
    validate_scores,
    winrate_table,
)
from analysis.writing import write_table, write_tables
from metrics.registry import CSD_CONTENT_CAVEAT

REFERENCE_CSV = Path(__file__).resolve().parents[1] / "data" / "paper_reference.csv"
PROV = Provenance(commit="abc123", config_hash="cfg9", preset="tiny", choices="CLIP B/32; 2 seeds/prompt")
FAST = BootstrapConfig(n_boot=50, seed=0)
IMAGES = ("img0", "img1", "img2")
METRICS = ("clip_i", "dino", "csd_style", "csd_content", "clip_t")
# A value per (metric, kind). Each metric's "right" kind differs from the others, so a wrong kind filter shows.
BASE = {
    ("clip_i", "style"): 0.50, ("clip_i", "content"): 0.90, ("clip_i", "combined"): 0.70,
    ("csd_style", "style"): 0.20, ("csd_style", "content"): 0.80, ("csd_style", "combined"): 0.40,
    ("dino", "content"): 0.30, ("dino", "style"): 0.80, ("dino", "combined"): 0.60,
    ("csd_content", "content"): 0.35, ("csd_content", "style"): 0.85, ("csd_content", "combined"): 0.55,
    ("clip_t", "content"): 0.20, ("clip_t", "style"): 0.40, ("clip_t", "combined"): 0.90,
}  # fmt: skip
PROVENANCE_COLUMNS = ["commit", "config_hash", "preset", "weights", "choices"]
REFERENCE_SOURCE = ["reference_provenance", "reference_verified"]  # + reference_not_run on per-method tables
DIFFS = ("_diff_lo", "_diff_hi", "_step_lo", "_step_hi")


def rows(method: str, offset: float = 0.0, *, train_seed: int = 0, images=IMAGES, cross: bool = False) -> list[dict]:
    """Score rows of one method: per image, content/style (single) and combined (official, addition) outputs,
    2 prompts × 2 sample seeds, every metric. Value = BASE + 0.01 × image index + offset."""
    out = []
    outputs = [("content", "single"), ("style", "single"), ("combined", "official"), ("combined", "addition")]
    for i, image in enumerate(images):
        for kind, mode in outputs:
            for p in range(2):
                for seed in (0, 1):
                    for metric in METRICS:
                        out.append(
                            {"image_id": image, "content_image": image, "style_image": image, "method": method,
                             "train_seed": train_seed, "task": "decomposition", "kind": kind, "mode": mode,
                             "prompt_id": f"{kind}-{p:02d}", "prompt": f"a prompt {p}", "seed": seed,
                             "file": f"{method}/{image}/{kind}_{mode}_{p}_{seed}.png", "metric": metric,
                             "value": BASE[metric, kind] + 0.01 * i + offset, "reference": f"{image}.png",
                             "model": "csd_vit_l.tomg" if metric.startswith("csd") else "ViT-B-32-quickgelu.openai",
                             "weights_repo": "repo", "weights_revision": "rev1",
                             "caveat": CSD_CONTENT_CAVEAT if metric == "csd_content" else ""}
                        )  # fmt: skip
    if cross:  # one cross-image recombination "img0+img1", official mode only, values 0.05 above the self ones
        for r in [r for r in out if r["image_id"] == "img0" and r["mode"] == "official"]:
            out.append(
                r
                | {"image_id": "img0+img1", "style_image": "img1", "task": "recombination", "value": r["value"] + 0.05}
            )
    return out


def frame(*parts: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([r for part in parts for r in part])


@pytest.fixture
def two_methods() -> pd.DataFrame:
    """unziplora beats blora by exactly 0.1 on every item (up to float rounding)."""
    return frame(rows("blora", 0.0, cross=True), rows("unziplora", 0.1, cross=True))


@pytest.fixture
def reference() -> pd.DataFrame:
    return load_reference(REFERENCE_CSV)


def no_nan(table: pd.DataFrame) -> bool:
    """No NaN in the estimate columns (`{m}_mean/_lo/_hi`, win_rate, lo, hi, mean); differences may be empty."""
    estimates = [c for c in table.columns if c.endswith(("_mean", "_lo", "_hi")) and not c.endswith(DIFFS)]
    cols = estimates + [c for c in table.columns if c in ("win_rate", "lo", "hi", "mean")]
    return bool(cols) and not table[cols].isna().any().any()


def test_comparison_columns_use_each_metrics_image_kind(two_methods, reference):
    table = comparison_table(two_methods, PROV, reference, FAST).set_index("method")
    assert list(table.index) == ["unziplora", "blora"]  # registry order
    # Style metrics on style images, content metrics on content images, CLIP-T on both (0.2 and 0.4 → 0.3);
    # per-image offsets 0, 0.01, 0.02 average to 0.01. Leaking another kind in would move these numbers.
    expected = {"clip_i": 0.51, "csd_style": 0.21, "dino": 0.31, "csd_content": 0.36, "clip_t": 0.31}
    for m, value in expected.items():
        assert table.loc["blora", f"{m}_mean"] == pytest.approx(value)
        assert table.loc["unziplora", f"{m}_mean"] == pytest.approx(value + 0.1)
        assert table.loc["blora", f"{m}_lo"] < table.loc["blora", f"{m}_hi"]
        assert table.loc["blora", f"{m}_n_images"] == 3
        # Paired difference row − unziplora: exactly −0.1 on every item, so a zero-width CI.
        assert table.loc["blora", f"{m}_diff"] == pytest.approx(-0.1)
        assert table.loc["blora", f"{m}_diff_hi"] - table.loc["blora", f"{m}_diff_lo"] == pytest.approx(0, abs=1e-12)
        assert table.loc["unziplora", f"{m}_diff"] == 0.0
        assert table.loc["blora", f"{m}_seed_sd"] == 0.0
    assert table.loc["blora", "clip_i_paper"] == 0.418 and table.loc["unziplora", "csd_content_paper"] == 0.358
    assert math.isnan(table.loc["blora", "clip_t_paper"])  # no paper value: an empty cell
    assert (table["n_train_seeds"] == 1).all() and (table["label"] == ["M3", "BL"]).all()
    assert no_nan(table)


def test_comparison_column_layout_and_provenance(two_methods):
    table = comparison_table(two_methods, PROV, None, FAST)
    per_metric = ["mean", "lo", "hi", "n_images", "n_units", "seed_sd", "diff", "diff_lo", "diff_hi", "diff_n_images",
                  "diff_n_units", "paper"]  # fmt: skip
    expected = ["method", "label"] + [f"{m}_{s}" for m in METRICS for s in per_metric]
    assert list(table.columns) == expected + ["n_train_seeds"] + PROVENANCE_COLUMNS + REFERENCE_SOURCE + [
        "reference_not_run"
    ]
    assert (table["commit"] == "abc123").all() and (table["choices"] == PROV.choices).all()
    assert set(table["reference_provenance"]) == {"none"} and set(table["reference_verified"]) == {"none"}
    assert set(table["weights"]) == {"ViT-B-32-quickgelu.openai@rev1; csd_vit_l.tomg@rev1"}
    assert table["clip_i_paper"].isna().all()  # no reference given


def test_base_is_last_and_differences_use_the_intersection_of_images():
    scores = frame(rows("base", -0.2), rows("unziplora", 0.0), rows("dreambooth_lora", -0.05, images=IMAGES[:2]))
    table = comparison_table(scores, PROV, None, FAST).set_index("method")
    assert list(table.index) == ["unziplora", "dreambooth_lora", "base"]
    assert table.loc["dreambooth_lora", "dino_n_images"] == 2
    assert table.loc["dreambooth_lora", "dino_diff_n_images"] == 2
    assert table.loc["dreambooth_lora", "dino_mean"] == pytest.approx(0.30 + 0.005 - 0.05)
    assert table.loc["dreambooth_lora", "dino_diff"] == pytest.approx(-0.05)
    assert table.loc["base", "dino_diff"] == pytest.approx(-0.2)


def test_seed_spread_and_matching_across_training_seeds():
    scores = frame(rows("blora", 0.0), rows("unziplora", 0.1), rows("unziplora", 0.3, train_seed=1))
    table = comparison_table(scores, PROV, None, FAST).set_index("method")
    assert table.loc["unziplora", "n_train_seeds"] == 2
    assert table.loc["unziplora", "clip_i_seed_sd"] == pytest.approx(0.2 / math.sqrt(2))  # SD of means 0.61, 0.81
    assert table.loc["unziplora", "clip_i_mean"] == pytest.approx(0.71)
    # blora has only training seed 0: the paired difference uses unziplora's seed-0 items only (−0.1, not −0.2).
    assert table.loc["blora", "clip_i_diff"] == pytest.approx(-0.1)


def test_comparison_without_unziplora_leaves_differences_empty():
    table = comparison_table(frame(rows("blora"), rows("base", -0.1)), PROV, None, FAST)
    assert table["dino_diff"].isna().all() and (table["dino_diff_n_images"] == 0).all()
    assert no_nan(table)


def test_ablation_steps_are_each_row_minus_the_previous_with_the_papers_step(reference):
    offsets = {"joint": 0.0, "prompt_sep": 0.125, "column_sep": 0.25, "unziplora": 0.375}
    scores = frame(*(rows(m, o) for m, o in offsets.items()), rows("blora", 1.0))
    table = ablation_table(scores, PROV, reference, FAST).set_index("method")
    assert list(table.index) == list(offsets) and list(table["label"]) == ["M0", "M1", "M2", "M3"]
    assert math.isnan(table.loc["joint", "dino_step"]) and table.loc["joint", "dino_step_n_images"] == 0
    for method in ("prompt_sep", "column_sep", "unziplora"):
        assert table.loc[method, "csd_style_step"] == pytest.approx(0.125)
    assert table.loc["prompt_sep", "paper_content_decomposition"] == 0.9167
    assert table.loc["column_sep", "paper_style_decomposition"] == 0.3951
    assert table.loc["unziplora", "paper_recombination"] == 0.6190
    assert math.isnan(table.loc["joint", "paper_recombination"])
    per_metric = ["mean", "lo", "hi", "n_images", "n_units", "seed_sd", "step", "step_lo", "step_hi", "step_n_images",
                  "step_n_units", "paper"]  # fmt: skip
    expected = ["method", "label"] + [f"{m}_{s}" for m in METRICS for s in per_metric] + ["n_train_seeds"]
    expected += ["paper_content_decomposition", "paper_style_decomposition", "paper_recombination"]
    assert list(table.reset_index().columns) == expected + PROVENANCE_COLUMNS + REFERENCE_SOURCE + ["reference_not_run"]
    assert no_nan(table)


def test_ablation_step_skips_an_absent_method_and_then_has_no_paper_value(reference):
    scores = frame(rows("prompt_sep", 0.0), rows("unziplora", 0.25))
    table = ablation_table(scores, PROV, reference, FAST).set_index("method")
    assert table.loc["unziplora", "dino_step"] == pytest.approx(0.25)
    assert math.isnan(table.loc["unziplora", "paper_content_decomposition"])  # the paper has no M3-vs-M1 step


def test_winrate_rows_pairs_tasks_and_modes(two_methods, reference):
    table = winrate_table(two_methods, PROV, reference, FAST)
    assert list(table.columns) == [
        "a", "b", "a_label", "b_label", "task", "metric", "mode", "n_images", "n_units", "n_items", "win_rate", "lo",
        "hi", "paper_preference",
    ] + PROVENANCE_COLUMNS + REFERENCE_SOURCE  # fmt: skip
    assert set(zip(table["a"], table["b"], strict=True)) == {("unziplora", "blora")}
    assert (table["win_rate"] == 1.0).all() and (table["lo"] == 1.0).all()
    dec = table[table["task"] == "decomposition"].set_index("metric")
    assert list(dec.index) == list(METRICS) and set(dec["mode"]) == {"single"}
    # Content metrics on content images only: 3 images × 2 prompts × 2 seeds; CLIP-T on both kinds.
    assert dec.loc["dino", "n_items"] == 12 and dec.loc["clip_t", "n_items"] == 24
    assert (dec["paper_preference"] == 0.6274).all()
    rec = table[table["task"] == "recombination"]
    assert list(rec["mode"].unique()) == ["official", "addition"] and len(rec) == 2 * len(METRICS)
    assert (rec["n_images"] == 3).all()  # self-recombination only: the cross image "img0+img1" is not in it
    assert (rec["paper_preference"] == 0.7714).all()
    assert no_nan(table)


def test_winrate_follows_the_kind_filter_and_ablation_pairs(reference):
    scores = frame(rows("joint"), rows("prompt_sep"))
    # prompt_sep wins on style images only, loses on content images: a wrong kind filter would mix them.
    scores.loc[(scores.method == "prompt_sep") & (scores.kind == "style"), "value"] += 0.1
    scores.loc[(scores.method == "prompt_sep") & (scores.kind == "content"), "value"] -= 0.1
    table = winrate_table(scores, PROV, reference, FAST).set_index(["task", "metric", "mode"])
    assert table.loc[("style decomposition", "csd_style", "single"), "win_rate"] == 1.0
    assert table.loc[("content decomposition", "dino", "single"), "win_rate"] == 0.0
    assert table.loc[("content decomposition", "clip_t", "single"), "win_rate"] == 0.0
    assert ("content decomposition", "csd_style", "single") not in table.index  # style metric, content task
    assert table.loc[("recombination", "dino", "official"), "win_rate"] == 0.5  # combined untouched: ties
    assert table.loc[("style decomposition", "csd_style", "single"), "paper_preference"] == 0.1235
    assert set(table["a_label"]) == {"M1"} and set(table["b_label"]) == {"M0"}


def test_per_image_table(two_methods):
    table = per_image_table(two_methods, PROV)
    assert list(table.columns) == [
        "image_id", "method", "label", "train_seed", "kind", "mode", "metric", "mean", "n_items",
    ] + PROVENANCE_COLUMNS  # fmt: skip
    row = table[(table.image_id == "img1") & (table.method == "unziplora") & (table.kind == "style")
                & (table.metric == "clip_i")]  # fmt: skip
    assert len(row) == 1 and row["mean"].iloc[0] == pytest.approx(0.61) and row["n_items"].iloc[0] == 4
    assert "img0+img1" in set(table["image_id"])  # all tasks
    assert len(table) == 2 * (3 * 4 + 1) * len(METRICS)
    assert no_nan(table)


def test_recombination_table_self_and_cross(two_methods):
    table = recombination_table(two_methods, PROV, FAST)
    metric_cols = [f"{m}_{s}" for m in METRICS for s in ("mean", "lo", "hi", "n_images", "n_units")]
    assert list(table.columns) == ["method", "label", "task", "mode"] + metric_cols + PROVENANCE_COLUMNS
    keys = list(zip(table["method"], table["task"], table["mode"], strict=True))
    assert keys == [
        ("unziplora", "self", "official"), ("unziplora", "self", "addition"), ("unziplora", "cross", "official"),
        ("blora", "self", "official"), ("blora", "self", "addition"), ("blora", "cross", "official"),
    ]  # fmt: skip
    t = table.set_index(["method", "task", "mode"])
    assert t.loc[("blora", "self", "official"), "dino_mean"] == pytest.approx(0.61)  # combined dino, not content's
    assert t.loc[("blora", "cross", "official"), "dino_mean"] == pytest.approx(0.65)
    assert t.loc[("blora", "cross", "official"), "dino_n_images"] == 1
    assert no_nan(table)


def test_write_tables_writes_csv_and_markdown_atomically(two_methods, reference, tmp_path):
    out = tmp_path / "tables"
    paths = write_tables(two_methods, out, PROV, reference, n_boot=50, seed=0)
    names = ["comparison", "ablation", "winrate", "per_image", "recombination"]
    assert set(paths) == set(names) | {f"{n}_md" for n in names}
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{n}.csv" for n in names] + [f"{n}.md" for n in names])
    comparison = pd.read_csv(paths["comparison"])
    assert list(comparison["method"]) == ["unziplora", "blora"] and no_nan(comparison)
    md = paths["comparison_md"].read_text()
    assert "| M3 (unziplora) | 0.610 [" in md
    assert "-0.100 [-0.100, -0.100]" in md
    assert "commit `abc123`" in md and "config `cfg9`" in md and "csd_vit_l.tomg@rev1" in md and PROV.choices in md
    assert "failed experiment" in md  # csd_content's caveat in the footer
    assert "metric win rate" in paths["winrate_md"].read_text() and "62.74%" in paths["winrate_md"].read_text()
    # Same seed, same files.
    again = write_tables(two_methods, tmp_path / "again", PROV, reference, n_boot=50, seed=0)
    assert again["winrate"].read_bytes() == paths["winrate"].read_bytes()


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    table = pd.DataFrame({"x": [1]})
    (tmp_path / "t.md").write_text("old")
    with pytest.raises(TypeError):
        write_table(table, None, tmp_path / "t.csv")  # the Markdown step fails
    assert (tmp_path / "t.md").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.md"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.iloc[:0], "empty"),
        (lambda f: f.drop(columns=["prompt_id"]), "missing columns \\['prompt_id'\\]"),
        (lambda f: f.assign(value=[math.nan] + [0.5] * (len(f) - 1)), "1 NaN, infinite or non-numeric values"),
        (lambda f: f.assign(method="ziplora"), "unknown method values \\['ziplora'\\]"),
        (lambda f: f.assign(kind="both"), "unknown kind"),
        (lambda f: f.assign(seed=0.5), "'seed' must hold integers"),
        (lambda f: f.assign(train_seed=None), "empty cells in columns \\['train_seed'\\]"),
        (lambda f: pd.concat([f, f.iloc[:1]]), "1 duplicate rows"),
    ],
)
def test_bad_score_frames_are_refused_with_one_line(two_methods, change, message):
    with pytest.raises(ValueError, match=message) as info:
        validate_scores(change(two_methods))
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match=message):
        write_tables(change(two_methods), Path("/nonexistent/never"), PROV, None, n_boot=10)


def test_validate_reads_csv_types(two_methods, tmp_path):
    path = tmp_path / "scores.csv"
    two_methods.to_csv(path, index=False)
    read = validate_scores(pd.read_csv(path))  # empty caveats come back as NaN: accepted as ""
    assert read["caveat"].isin(["", CSD_CONTENT_CAVEAT]).all() and read["seed"].dtype == "int64"


def test_tables_name_the_papers_source_and_the_methods_not_run(two_methods, reference):
    table = comparison_table(two_methods, PROV, reference, FAST)
    sources = set(reference.loc[reference["table"] == "comparison", "provenance"])
    assert set(table["reference_provenance"]) == {"; ".join(sorted(sources))}
    assert set(table["reference_verified"]) == {"no"}  # every row of the CSV is marked unverified
    # Paper numbers exist for methods absent here: Inspiration Tree (never run) and DreamBooth-LoRA (not in this frame).
    assert set(table["reference_not_run"]) == {"dreambooth_lora inspiration_tree"}
    checked = reference.assign(verified="yes")
    assert set(comparison_table(two_methods, PROV, checked, FAST)["reference_verified"]) == {"yes"}
    partly = checked.assign(verified=["no"] + ["yes"] * (len(checked) - 1))
    assert set(comparison_table(two_methods, PROV, partly, FAST)["reference_verified"]) == {"partly"}
    note = comparison_markdown(table, Render.of(two_methods, PROV.columns("w"), FAST))
    assert "checked against the PDF: no" in note and "inspiration_tree, not run here" in note


def test_reference_csv_holds_the_papers_numbers(reference):
    assert list(reference.columns) == [
        "table", "a", "b", "task", "metric", "value", "unit", "provenance", "verified",
    ]  # fmt: skip
    assert len(reference) == 16 + 6 + 9 and set(reference["verified"]) == {"no"}
    get = reference.set_index(["table", "a", "b", "task", "metric"])["value"]
    assert get["comparison", "unziplora", "", "decomposition", "clip_i"] == 0.427
    assert get["comparison", "inspiration_tree", "", "decomposition", "dino"] == 0.291
    assert get["winrate", "unziplora", "dreambooth_lora", "decomposition", "user_preference"] == 0.9117
    assert get["winrate", "unziplora", "blora", "recombination", "user_preference"] == 0.7714
    assert get["ablation", "prompt_sep", "joint", "style decomposition", "user_preference"] == 0.1235
    assert set(reference.loc[reference.table != "comparison", "unit"]) == {"fraction"}


def test_reference_loader_checks_columns_and_values(tmp_path):
    bad = tmp_path / "ref.csv"
    bad.write_text("table,a,b,task,metric,value\ncomparison,blora,,decomposition,dino,0.3\n")
    with pytest.raises(ValueError, match="missing columns \\['unit', 'provenance', 'verified'\\]"):
        load_reference(bad)
    bad.write_text("table,a,b,task,metric,value,unit,provenance,verified\ncomparison,blora,,d,dino,high,c,p,no\n")
    with pytest.raises(ValueError, match="non-numeric"):
        load_reference(bad)


def test_provenance_fields_must_be_strings():
    with pytest.raises(ValueError, match="config_hash"):
        Provenance(commit="a", config_hash=None, preset="p", choices="c")


def test_a_single_baseline_gives_empty_tables_that_keep_their_columns(tmp_path):
    scores = frame(rows("blora"))
    paths = write_tables(scores, tmp_path, PROV, None, n_boot=10)
    winrate = pd.read_csv(paths["winrate"])
    assert winrate.empty and list(winrate.columns[:4]) == ["a", "b", "a_label", "b_label"]
    ablation = pd.read_csv(paths["ablation"])
    assert ablation.empty and "dino_step" in ablation.columns and "paper_recombination" in ablation.columns
    assert "commit `abc123`" in paths["winrate_md"].read_text()  # the footer is there even without rows


def test_extra_metrics_follow_the_paper_columns_and_reach_win_rates_and_recombination(two_methods):
    extra = two_methods[two_methods.metric == "clip_i"].assign(metric="clip_i_l14", value=lambda f: f["value"] - 0.3)
    scores = pd.concat([two_methods, extra], ignore_index=True)
    means = [c for c in comparison_table(scores, PROV, None, FAST).columns if c.endswith("_mean")]
    assert means == [f"{m}_mean" for m in ("clip_i", "dino", "csd_style", "csd_content", "clip_t", "clip_i_l14")]
    recombination = recombination_table(scores, PROV, FAST).set_index(["method", "task", "mode"])
    assert recombination.loc[("blora", "self", "official"), "clip_i_l14_mean"] == pytest.approx(0.41)
    winrate = winrate_table(scores, PROV, None, FAST)
    row = winrate[(winrate.metric == "clip_i_l14") & (winrate.task == "decomposition")]
    assert len(row) == 1 and row["n_items"].iloc[0] == 12  # a style metric: style images only


def test_a_reference_frame_without_its_columns_is_refused(two_methods):
    with pytest.raises(ValueError, match="reference: missing columns"):
        comparison_table(two_methods, PROV, pd.DataFrame({"a": ["unziplora"]}), FAST)
