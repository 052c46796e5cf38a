"""The toy world's oracle table on hand-made score frames with known answers: which outputs make which column, the
joint "both right", the leakage prompt filter, recombination, and the per-subset (tier) tables."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.oracle import oracle_items, oracle_table
from analysis.stats import BootstrapConfig
from analysis.tables import Provenance
from analysis.writing import write_tables

FAST = BootstrapConfig(n_boot=50, seed=0)
PROV = Provenance(commit="abc", config_hash="cfg", preset="toy", choices="")
# The sheet's truth: its values are also the words by which a prompt names a shape or a style (bind_c has no scores).
TRUTH = {"bind_a": {"shape": "star", "style": "dots"}, "novel_b": {"shape": "arrow", "style": "plaid"},
         "bind_c": {"shape": "circle", "style": "solid"}}  # fmt: skip
# (kind, mode, prompt) → (shape_right, style_right) for every image of method "joint"
JOINT = {
    ("content", "single", "A sks shape"): (1.0, 1.0),
    ("content", "single", "A sks shape in dots style"): (1.0, 1.0),  # names bind_a's own style: no leakage count
    ("style", "single", "A circle in zwx style"): (0.0, 1.0),
    ("style", "single", "A star in zwx style"): (1.0, 1.0),  # names bind_a's own shape
    ("combined", "official", "A sks shape in zwx style"): (1.0, 0.0),
    ("combined", "addition", "A sks shape in zwx style"): (1.0, 1.0),
}


def _rows(method, outputs, images=("bind_a", "novel_b"), task="decomposition", train_seed=0):
    rows = []
    for image in images:
        content, style = image.split("+") if "+" in image else (image, image)
        for i, ((kind, mode, prompt), values) in enumerate(outputs.items()):
            for metric, value in zip(("shape_right", "style_right"), values, strict=True):
                rows.append(
                    {"image_id": image, "content_image": content, "style_image": style, "method": method,
                     "train_seed": train_seed, "task": task, "kind": kind, "mode": mode, "prompt_id": f"p{i}",
                     "prompt": prompt, "seed": 0, "file": f"{method}/{image}/{i}.png", "metric": metric,
                     "value": value, "model": "oracle", "weights_revision": "committed", "caveat": ""}
                )  # fmt: skip
    return rows


def _frame():
    cross = {("combined", "official", "A sks shape in zwx style"): (1.0, 1.0),
             ("combined", "addition", "A sks shape in zwx style"): (0.0, 1.0)}  # fmt: skip
    return pd.DataFrame(
        _rows("joint", JOINT)
        + _rows("joint", cross, images=("bind_a+novel_b",), task="recombination")
        + _rows("base", {k: (0.0, 0.0) for k in JOINT})
    )


def test_columns_read_the_right_outputs_and_leakage_skips_prompts_naming_the_inputs_own_factor():
    rows, header = oracle_table(_frame(), TRUTH, FAST)
    table = pd.DataFrame(rows, columns=header).set_index(["method", "mode"])
    official, addition = table.loc[("joint", "official")], table.loc[("joint", "addition")]
    assert official["content_fidelity_mean"] == 1.0 and official["style_fidelity_mean"] == 1.0
    # content leakage: the circle prompt (shape 0) on both images, plus the star prompt on novel_b only (shape 1)
    assert official["content_leakage_mean"] == pytest.approx((0.0 + 0.5) / 2)
    assert official["style_leakage_mean"] == 1.0 and official["content_leakage_n_images"] == 2
    assert official["joint_fidelity_mean"] == 0.0 and addition["joint_fidelity_mean"] == 1.0
    assert official["recombination_mean"] == 1.0 and addition["recombination_mean"] == 0.0
    assert official["recombination_n_images"] == 1 and official["content_fidelity_n_images"] == 2
    assert table.loc[("base", "official"), "content_fidelity_mean"] == 0.0
    assert list(table.index.get_level_values(0)) == ["joint", "joint", "base", "base"]  # base last (the floor)


def test_leakage_is_split_by_what_the_prompt_names_and_every_column_carries_the_base_floor():
    unshaped = {("style", "single", "A shape in zwx style"): (1.0, 1.0)}  # names no shape: the input's shows
    frame = pd.concat(
        [_frame(), pd.DataFrame(_rows("joint", unshaped) + _rows("base", {k: (0.5, 0.0) for k in unshaped}))]
    )
    rows, header = oracle_table(frame, TRUTH, FAST)
    table = pd.DataFrame(rows, columns=header).set_index(["method", "mode"])
    joint = table.loc[("joint", "official")]
    assert joint["content_leakage_unshaped_mean"] == 1.0 and joint["content_leakage_other_shape_mean"] == 0.25
    assert joint["content_leakage_mean"] == pytest.approx((1 / 2 + 2 / 3) / 2)  # pooled: both kinds per image
    # "A sks shape" names no style (both images); "... in dots style" names another style on novel_b only
    assert joint["style_leakage_unstyled_mean"] == 1.0 and joint["style_leakage_unstyled_n_images"] == 2
    assert joint["style_leakage_other_style_n_images"] == 1
    # the floor of each column is the base model's value, on every row
    assert table["content_leakage_unshaped_floor"].eq(0.5).all() and table["content_fidelity_floor"].eq(0.0).all()
    rows, header = oracle_table(frame, None, FAST)
    without_truth = pd.DataFrame(rows, columns=header)
    assert without_truth["content_leakage_unshaped_n_images"].eq(0).all()  # kinds need the truth: left empty


def test_without_truth_no_prompt_is_skipped_and_a_half_scored_image_is_an_error():
    rows, header = oracle_table(_frame(), None, FAST)
    assert pd.DataFrame(rows, columns=header)["content_leakage_mean"].iloc[0] == pytest.approx(0.5)
    frame = _frame()
    with pytest.raises(ValueError, match="only one of"):
        oracle_items(frame.drop(index=frame.index[frame["metric"] == "style_right"][:1]))


def test_write_tables_adds_the_oracle_table_and_writes_each_subset(tmp_path):
    subsets = {"bind": ["bind_a"], "novel": ["novel_b"]}
    paths = write_tables(_frame(), tmp_path, PROV, None, n_boot=50, truth=TRUTH, subsets=subsets)
    assert {"oracle", "bind/oracle", "novel/comparison", "novel/oracle_md"} <= set(paths)
    bind = pd.read_csv(tmp_path / "bind" / "oracle.csv").set_index(["method", "mode"])
    assert bind.loc[("joint", "official"), "content_leakage_mean"] == 0.0  # the star prompt is skipped on bind_a
    assert bind["recombination_n_images"].eq(0).all()  # the bind+novel pair is in neither tier
    everything = pd.read_csv(tmp_path / "oracle.csv")
    means = [c for c in everything if c.endswith("_mean") and not c.startswith(("recombination", "content_leakage_un"))]
    assert means and not everything[means].isna().any().any()  # no recombination rows for base, no unshaped prompts
    assert "Oracle fidelity and leakage" in (tmp_path / "novel" / "oracle.md").read_text()
    one_pair = {"bind_a": "p", "novel_b": "p"}
    paired = write_tables(_frame(), tmp_path / "u", PROV, None, n_boot=50, truth=TRUTH, units=one_pair, unit="pair")
    for name in ("oracle", "comparison", "recombination"):  # both images are one pair: one unit everywhere
        table = pd.read_csv(paired[name])
        assert table.filter(like="n_units").max().max() == 1 and set(table["ci_unit"]) == {"pair"}, name
    assert "bootstrap over pairs (sheet column `pair`)" in paired["oracle_md"].read_text()
    with pytest.raises(ValueError, match="subset 'none' has no score rows"):
        write_tables(_frame(), tmp_path / "x", PROV, None, n_boot=50, subsets={"none": ["nothing"]})
