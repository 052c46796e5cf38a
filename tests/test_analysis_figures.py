"""The analysis figures and the LoRA-file reading behind them, on small hand-made inputs (no models, no torch)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from safetensors.numpy import save_file

from analysis import figures, oracle_figure
from analysis.loras import column_fractions, layer_similarity, natural_key, similarity_summary
from plumbing.figures import MAX_PX

LAYER_1 = "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q"
LAYER_2 = "up_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k"


# ------------------------------------------------------------------------------------------------ helpers
def write_lora(path, layers: dict[str, tuple[np.ndarray, np.ndarray]], prefix: str = "unet.", alpha=None):
    """A diffusers-style LoRA file: `{prefix}{module}.lora_A.weight` (r×in), `.lora_B.weight` (out×r)."""
    tensors = {}
    for module, (a, b) in layers.items():
        tensors[f"{prefix}{module}.lora_A.weight"] = np.ascontiguousarray(a, dtype=np.float32)
        tensors[f"{prefix}{module}.lora_B.weight"] = np.ascontiguousarray(b, dtype=np.float32)
        if alpha is not None:
            tensors[f"{prefix}{module}.alpha"] = np.array(alpha, dtype=np.float32)
    save_file(tensors, str(path))
    return path


def random_factors(seed: int, out: int = 6, inp: int = 8, rank: int = 3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(rank, inp)), rng.normal(size=(out, rank))


def png(path, colour, size=(24, 16)):
    Image.new("RGB", size, colour).save(path)
    return path


def assert_written(paths):
    for path in paths:
        assert path.is_file() and path.stat().st_size > 0
    png_path, pdf_path = paths[:2]
    assert png_path.read_bytes().startswith(b"\x89PNG")
    assert pdf_path.read_bytes().startswith(b"%PDF")
    with Image.open(png_path) as im:
        assert max(im.size) <= MAX_PX


def comparison_frame() -> pd.DataFrame:
    methods = ["unziplora", "blora", "dreambooth_lora", "base"]
    rows = []
    for i, method in enumerate(methods):
        row = {"method": method, "label": figures.METHODS[method].label}
        for j, metric in enumerate(["clip_i", "dino", "csd_style", "csd_content", "clip_t"]):
            mean = 0.3 + 0.1 * i + 0.02 * j
            row |= {f"{metric}_mean": mean, f"{metric}_lo": mean - 0.03, f"{metric}_hi": mean + 0.04}
            row[f"{metric}_paper"] = 0.5 if (metric != "clip_t" and method == "unziplora") else np.nan
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame.loc[3, "dino_mean"] = np.nan  # a method without a value must not break the panel
    return frame


# ------------------------------------------------------------------------------------------------ loras.py
def test_identical_loras_have_similarity_one(tmp_path):
    layers = {LAYER_1: random_factors(0), LAYER_2: random_factors(1, out=5)}
    content = write_lora(tmp_path / "c.safetensors", layers)
    style = write_lora(tmp_path / "s.safetensors", layers)
    frame = layer_similarity(content, style)
    assert list(frame.columns) == ["layer", "mean_abs_cos", "n_channels", "frac_zero"]
    assert list(frame["layer"]) == [LAYER_1, LAYER_2]
    np.testing.assert_allclose(frame["mean_abs_cos"], 1.0, atol=1e-6)
    assert list(frame["n_channels"]) == [6, 5]
    assert list(frame["frac_zero"]) == [0.0, 0.0]


def test_opposite_sign_and_scale_count_as_aligned(tmp_path):
    a, b = random_factors(2)
    content = write_lora(tmp_path / "c.safetensors", {LAYER_1: (a, b)})
    style = write_lora(tmp_path / "s.safetensors", {LAYER_1: (a, -3.0 * b)})
    assert layer_similarity(content, style)["mean_abs_cos"].iloc[0] == pytest.approx(1.0, abs=1e-6)


def test_orthogonal_rows_have_similarity_zero(tmp_path):
    # ΔW = B·A with A picking disjoint input coordinates: every content row lies in dims 0–1, every style row in 2–3.
    a_c = np.zeros((2, 4))
    a_c[0, 0] = a_c[1, 1] = 1.0
    a_s = np.zeros((2, 4))
    a_s[0, 2] = a_s[1, 3] = 1.0
    b = np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 1.0]])
    content = write_lora(tmp_path / "c.safetensors", {LAYER_1: (a_c, b)})
    style = write_lora(tmp_path / "s.safetensors", {LAYER_1: (a_s, b)})
    frame = layer_similarity(content, style)
    assert frame["mean_abs_cos"].iloc[0] == pytest.approx(0.0, abs=1e-9)
    assert frame["frac_zero"].iloc[0] == 0.0


def test_known_mixed_cosines_average_over_channels(tmp_path):
    # Rank-1 rows: content rows e0, e0; style rows e0, (e0+e1)/√2 ⇒ |cos| = 1 and 1/√2, mean (1 + 1/√2) / 2.
    a_c = np.array([[1.0, 0.0]])
    b_c = np.array([[1.0], [2.0]])
    a_s = np.eye(2)
    b_s = np.array([[1.0, 0.0], [1.0, 1.0]])
    content = write_lora(tmp_path / "c.safetensors", {LAYER_1: (a_c, b_c)})
    style = write_lora(tmp_path / "s.safetensors", {LAYER_1: (a_s, b_s)})
    value = layer_similarity(content, style)["mean_abs_cos"].iloc[0]
    assert value == pytest.approx((1 + 1 / math.sqrt(2)) / 2, abs=1e-6)


def test_masked_channel_is_skipped_and_counted(tmp_path):
    a, b = random_factors(3, out=4)
    b_masked = b.copy()
    b_masked[1] = 0.0  # a column mask baked into B: this output channel of the style LoRA is off
    b_other = b.copy()
    b_other[2] = -b[2] + 0.0  # still aligned (|cos| = 1), so the mean stays 1 only if channel 1 is skipped
    content = write_lora(tmp_path / "c.safetensors", {LAYER_1: (a, b_other)})
    style = write_lora(tmp_path / "s.safetensors", {LAYER_1: (a, b_masked)})
    frame = layer_similarity(content, style)
    assert frame["frac_zero"].iloc[0] == pytest.approx(0.25)
    assert frame["n_channels"].iloc[0] == 4
    assert frame["mean_abs_cos"].iloc[0] == pytest.approx(1.0, abs=1e-6)


def test_fully_masked_layer_has_nan_mean(tmp_path):
    a, b = random_factors(4)
    content = write_lora(tmp_path / "c.safetensors", {LAYER_1: (a, b)})
    style = write_lora(tmp_path / "s.safetensors", {LAYER_1: (a, np.zeros_like(b))})
    frame = layer_similarity(content, style)
    assert frame["frac_zero"].iloc[0] == 1.0
    assert math.isnan(frame["mean_abs_cos"].iloc[0])


def test_disjoint_layers_give_an_empty_frame(tmp_path):
    content = write_lora(tmp_path / "c.safetensors", {LAYER_1: random_factors(5)})
    style = write_lora(tmp_path / "s.safetensors", {LAYER_2: random_factors(6)})
    frame = layer_similarity(content, style)
    assert frame.empty
    assert list(frame.columns) == ["layer", "mean_abs_cos", "n_channels", "frac_zero"]
    summary = similarity_summary({"blora": frame})
    assert summary["n_layers"].iloc[0] == 0 and math.isnan(summary["mean_abs_cos"].iloc[0])


def test_prefixes_and_alpha_are_understood(tmp_path):
    a, b = random_factors(7)
    content = write_lora(tmp_path / "c.safetensors", {LAYER_1: (a, b)}, prefix="lora.unet.", alpha=1.5)
    style = write_lora(tmp_path / "s.safetensors", {LAYER_1: (a, b)})
    frame = layer_similarity(content, style)
    assert list(frame["layer"]) == [LAYER_1]
    assert frame["mean_abs_cos"].iloc[0] == pytest.approx(1.0, abs=1e-6)


def test_layers_follow_numeric_module_order():
    names = ["a.transformer_blocks.10.x", "a.transformer_blocks.2.x", "a.transformer_blocks.1.x"]
    assert sorted(names, key=natural_key) == [names[2], names[1], names[0]]


def test_summary_weights_channels():
    frame = pd.DataFrame(
        {"layer": ["l1", "l2"], "mean_abs_cos": [1.0, 0.0], "n_channels": [10, 30], "frac_zero": [0.0, 0.5]}
    )
    row = similarity_summary({"m": frame}).iloc[0]
    assert row["mean_abs_cos"] == pytest.approx(10 / 25)  # 10 channels at 1, 15 kept channels at 0
    assert row["frac_zero"] == pytest.approx(15 / 40)
    assert row["n_layers"] == 2


def run_record(rounds: int = 2) -> dict:
    history = [
        {"round": r, "step": 1 + 20 * r, "mask_fraction": {"shared": {"content": 0.1 * (r + 1), "style": 0.05 * r}}}
        for r in range(rounds)
    ]
    return {
        "columns": {
            "ratio_per_round": 0.1,
            "rounds": history,
            "final_mask_fraction": {"shared": {"content": 0.2, "style": 0.05}, "style": {"content": 0.2, "style": 1.0}},
        }
    }


def test_column_fractions_reads_rounds_and_final():
    table = column_fractions({"unziplora": run_record(), "joint": {"columns": None}})
    assert set(table["method"]) == {"unziplora"}
    assert list(dict.fromkeys(table["stage"])) == ["round 1", "round 2", "final"]
    final = table[table["stage"] == "final"].set_index(["group", "adapter"])["fraction"]
    assert final["style", "style"] == 1.0
    assert table[table["stage"] == "round 2"]["step"].unique().tolist() == [21.0]


# ------------------------------------------------------------------------------------------------ figures
def test_metric_bars_writes_png_and_pdf(tmp_path):
    paths = figures.metric_bars(comparison_frame(), tmp_path / "out" / "metric.bars")
    assert paths == (tmp_path / "out" / "metric.bars.png", tmp_path / "out" / "metric.bars.pdf")
    assert_written(paths)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp files left


def test_metric_bars_is_byte_identical_for_the_same_input(tmp_path):
    def frame():  # one metric keeps the test fast; the saving path is the same for every figure
        return comparison_frame()[["method", "label", "clip_i_mean", "clip_i_lo", "clip_i_hi", "clip_i_paper"]]

    first = figures.metric_bars(frame(), tmp_path / "a")
    second = figures.metric_bars(frame(), tmp_path / "b")
    assert first[0].read_bytes() == second[0].read_bytes()
    assert first[1].read_bytes() == second[1].read_bytes()
    changed = frame()
    changed.loc[0, "clip_i_mean"] = 0.9
    third = figures.metric_bars(changed, tmp_path / "c")
    assert third[0].read_bytes() != first[0].read_bytes()


def test_metric_bars_needs_a_metric(tmp_path):
    with pytest.raises(ValueError, match="_mean"):
        figures.metric_bars(pd.DataFrame({"method": ["joint"], "label": ["M0"]}), tmp_path / "x")


def test_method_label():
    assert figures.method_label("unziplora") == "M3 unziplora"
    assert figures.method_label("unziplora", "M3 unziplora") == "M3 unziplora"
    assert figures.method_label("mystery") == "mystery"


def test_ablation_plot_writes_png_and_pdf(tmp_path):
    frame = comparison_frame().drop(columns=["label"])
    frame["method"] = ["unziplora", "joint", "column_sep", "base"]  # a subset, out of order, plus a non-ablation row
    assert_written(figures.ablation_plot(frame, tmp_path / "ablation"))


def test_image_grid_writes_png_and_pdf_with_missing_cells(tmp_path):
    source = png(tmp_path / "input.png", (200, 30, 30), size=(40, 30))
    rows = [
        ("unziplora", {k: png(tmp_path / f"u_{k}.png", (30, 30 * i, 200)) for i, k in enumerate(["content", "style"])}),
        ("blora", {"official": tmp_path / "absent.png", "addition": png(tmp_path / "b_add.png", (0, 200, 0))}),
    ]
    paths = figures.image_grid(source, rows, tmp_path / "grid", cell=48)
    assert_written(paths)
    with Image.open(paths[0]) as im:
        pixels = np.asarray(im.convert("RGB"))
    grey = round(255 * figures.MISSING_GREY)
    assert (np.abs(pixels.astype(int) - grey) <= 1).all(axis=-1).any()  # a missing cell is drawn grey


def test_recombination_matrix_writes_png_and_pdf(tmp_path):
    cells = {("cat", "sketch"): png(tmp_path / "cs.png", (10, 10, 10)), ("dog", "oil"): png(tmp_path / "do.png", 90)}
    assert_written(figures.recombination_matrix(cells, ["cat", "dog"], ["sketch", "oil"], tmp_path / "recomb", cell=32))


def test_lora_similarity_plots_methods_and_disjoint_blora(tmp_path):
    runs = {}
    for method, (c_layers, s_layers) in {
        "joint": ({LAYER_1: random_factors(0), LAYER_2: random_factors(1)},) * 2,
        "unziplora": (
            {LAYER_1: random_factors(2), LAYER_2: random_factors(3)},
            {LAYER_1: random_factors(4), LAYER_2: random_factors(5)},
        ),
        "blora": ({LAYER_1: random_factors(6)}, {LAYER_2: random_factors(7)}),
    }.items():
        folder = tmp_path / method
        folder.mkdir()
        write_lora(folder / "content.safetensors", c_layers)
        write_lora(folder / "style.safetensors", s_layers)
        runs[method] = folder
    png_path, pdf_path, summary = figures.lora_similarity(runs, tmp_path / "sim")
    assert_written((png_path, pdf_path))
    by_method = summary.set_index("method")
    assert by_method.loc["joint", "mean_abs_cos"] == pytest.approx(1.0, abs=1e-6)
    assert by_method.loc["blora", "n_layers"] == 0
    assert by_method.loc["unziplora", "label"] == "M3 unziplora"


def test_lora_similarity_with_only_disjoint_runs(tmp_path):
    write_lora(tmp_path / "content.safetensors", {LAYER_1: random_factors(0)})
    write_lora(tmp_path / "style.safetensors", {LAYER_2: random_factors(1)})
    assert_written(figures.lora_similarity({"blora": tmp_path}, tmp_path / "sim")[:2])


def test_mask_fractions_writes_png_and_pdf(tmp_path):
    records = {"joint": {"columns": None}, "column_sep": run_record(3), "unziplora": run_record(2)}
    assert_written(figures.mask_fractions(records, tmp_path / "masks"))


def test_mask_fractions_without_column_separation(tmp_path):
    assert_written(figures.mask_fractions({"joint": {"columns": None}, "blora": {"columns": None}}, tmp_path / "m"))


# ------------------------------------------------------------------------------------------------ oracle figure
def oracle_frame() -> pd.DataFrame:
    """An oracle table: 3 methods × 2 modes; the decomposition columns equal across modes, as oracle_table writes."""
    rows = []
    for i, method in enumerate(["unziplora", "joint", "base"]):
        for k, mode in enumerate(["official", "addition"]):
            row = {"method": method, "label": figures.METHODS[method].label, "mode": mode}
            for j, (columns, _) in enumerate(oracle_figure.PANELS):
                c = columns[-1]
                mean = 0.8 - 0.3 * i - 0.1 * j + (0.05 * k if c == "joint_fidelity" else 0.0)
                row |= {f"{c}_mean": mean, f"{c}_lo": mean - 0.05, f"{c}_hi": mean + 0.05, f"{c}_floor": 0.2 - 0.01 * j}
            rows.append(row)
    return pd.DataFrame(rows)


def test_oracle_bars_writes_png_and_pdf(tmp_path):
    assert_written(oracle_figure.oracle_bars(oracle_frame(), tmp_path / "oracle", title="bind (2 images)"))


def test_oracle_bars_draws_decomposition_once_and_joint_per_mode(tmp_path):
    first = oracle_figure.oracle_bars(oracle_frame(), tmp_path / "a")[0].read_bytes()
    # the decomposition panels come from the first mode's rows: the second mode's copy is not drawn
    other = oracle_frame()
    other.loc[other["mode"] == "addition", "style_leakage_unstyled_mean"] = 0.99
    assert oracle_figure.oracle_bars(other, tmp_path / "b")[0].read_bytes() == first
    # the joint fidelity is drawn for every mode
    other = oracle_frame()
    other.loc[other["mode"] == "addition", "joint_fidelity_mean"] = 0.99
    assert oracle_figure.oracle_bars(other, tmp_path / "c")[0].read_bytes() != first


def test_oracle_bars_draw_each_columns_floor_and_the_shape_leakage_of_unshaped_prompts_when_sampled(tmp_path):
    first = oracle_figure.oracle_bars(oracle_frame(), tmp_path / "a")[0].read_bytes()
    lower = oracle_frame().assign(content_fidelity_floor=0.01)
    assert oracle_figure.oracle_bars(lower, tmp_path / "b")[0].read_bytes() != first  # the floor line moved
    unshaped = oracle_frame().assign(content_leakage_unshaped_mean=0.5, content_leakage_unshaped_lo=0.4,
                                     content_leakage_unshaped_hi=0.6)  # fmt: skip
    assert oracle_figure.oracle_bars(unshaped, tmp_path / "c")[0].read_bytes() != first  # drawn instead


def test_oracle_bars_refuses_a_table_that_is_not_the_oracle_table(tmp_path):
    with pytest.raises(ValueError, match="tables/oracle.csv"):
        oracle_figure.oracle_bars(comparison_frame(), tmp_path / "x")
    assert not list(tmp_path.iterdir())
