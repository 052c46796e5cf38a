"""The one-block LoRA probe: which blocks it visits, what it writes, and the per-block table on hand-made rows."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import pytest
import torch

from toyworld.basemodel import BaseModelShape, new_pipeline
from toyworld.benchmark import benchmark_images
from toyworld.build import ORACLES, load_oracles
from toyworld.probe import BASE, ProbeConfig, attention_blocks, block_table, probe_blocks, run_probe
from toyworld.quality import Sampling

TINY = BaseModelShape(vae_channels=(16, 16, 16), unet_channels=(16, 32, 32), unet_heads=(1, 2, 2), text_width=16,
                      text_layers=1)  # fmt: skip


@pytest.fixture(scope="module")
def tiny_pipe():
    with tempfile.TemporaryDirectory() as tmp:
        yield new_pipeline(TINY, Path(tmp) / "tokenizer")


def test_the_probe_visits_every_attention_block_of_the_sdxl_layout(tiny_pipe):
    blocks = attention_blocks(tiny_pipe.unet)
    assert blocks == [
        "down_blocks.1.attentions.0", "down_blocks.1.attentions.1", "down_blocks.2.attentions.0",
        "down_blocks.2.attentions.1", "up_blocks.0.attentions.0", "up_blocks.0.attentions.1",
        "up_blocks.0.attentions.2", "up_blocks.1.attentions.0", "up_blocks.1.attentions.1",
        "up_blocks.1.attentions.2", "mid_block.attentions.0",
    ]  # fmt: skip


def test_a_probe_run_writes_one_row_per_image_and_block_and_leaves_the_unet_bare(tiny_pipe, tmp_path):
    before = {k: v.clone() for k, v in tiny_pipe.unet.state_dict().items()}
    config = ProbeConfig(steps=2, samples=2, sampling=Sampling(steps=2))
    blocks = ["up_blocks.0.attentions.0", "up_blocks.0.attentions.1"]
    items = benchmark_images("novel")[:1]
    rows = probe_blocks(tiny_pipe, items, load_oracles(ORACLES), config, torch.device("cpu"), blocks, False)
    assert [r["block"] for r in rows] == [BASE, *blocks]
    assert all(0 <= r[k] <= 1 for r in rows for k in ("shape_fidelity", "style_fidelity"))
    after = tiny_pipe.unet.state_dict()
    assert set(after) == set(before) and all(torch.equal(before[k], after[k]) for k in before)
    table = run_probe(tmp_path / "probe", tiny_pipe, items, load_oracles(ORACLES), config, torch.device("cpu"))
    written = pd.read_csv(tmp_path / "probe" / "block_table.csv")
    assert len(written) == len(table) == 1 + len(attention_blocks(tiny_pipe.unet))
    assert (tmp_path / "probe" / "blocks.png").stat().st_size > 0 and (tmp_path / "probe" / "probe.json").exists()


def test_the_block_table_averages_images_and_subtracts_the_base_model():
    rows = [
        {"block": BASE, "shape_fidelity": 0.25, "style_fidelity": 0.0},
        {"block": BASE, "shape_fidelity": 0.75, "style_fidelity": 0.5},
        {"block": "up_blocks.0.attentions.0", "shape_fidelity": 1.0, "style_fidelity": 0.0},
        {"block": "up_blocks.0.attentions.0", "shape_fidelity": 0.5, "style_fidelity": 0.5},
    ]
    table = {r["block"]: r for r in block_table(rows)}
    assert table["up_blocks.0.attentions.0"]["shape_fidelity"] == pytest.approx(0.75)
    assert table["up_blocks.0.attentions.0"]["shape_fidelity_over_base"] == pytest.approx(0.25)
    assert table["up_blocks.0.attentions.0"]["style_fidelity_over_base"] == pytest.approx(0.0)
    assert table[BASE]["images"] == 2


def test_a_sweep_point_trains_the_method_and_measures_fidelity_and_leakage(tiny_pipe, tmp_path):
    from toyworld.sweep import SweepConfig, sweep

    config = SweepConfig(ranks=(2,), steps=(6,), samples=1, sample_steps=2)
    rows = sweep(tiny_pipe, benchmark_images("bind")[:1], load_oracles(ORACLES), config, torch.device("cpu"),
                 tmp_path, progress=False)  # fmt: skip
    assert len(rows) == 1 and rows[0]["rank"] == 2 and rows[0]["steps"] == 6 and rows[0]["method"] == "unziplora"
    for key in ("content_fidelity", "style_leakage", "style_fidelity", "content_leakage", "joint_fidelity"):
        assert rows[0][key] in (0.0, 1.0), key  # one sample per prompt kind
    run = tmp_path / f"{benchmark_images('bind')[0].id}-r2-s6"
    assert (run / "content.safetensors").is_file() and len(list((run / "samples" / "combined").glob("*.png"))) == 1


def test_a_sweep_trains_a_block_rule_method_on_the_blocks_it_is_given(tiny_pipe, tmp_path):
    import json

    from toyworld.sweep import SweepConfig, sweep
    from unziplora.config import TrainConfig

    blocks = {"content": ("down_blocks.1.attentions.1",), "style": ("up_blocks.1.attentions.1",)}
    train = TrainConfig.for_method("blora", lora={"lr": 1e-3}, blocks=blocks)
    config = SweepConfig(train=train, ranks=(2,), steps=(2,), samples=1, sample_steps=1)
    sweep(tiny_pipe, benchmark_images("bind")[:1], load_oracles(ORACLES), config, torch.device("cpu"), tmp_path,
          progress=False)  # fmt: skip
    record = json.loads((tmp_path / f"{benchmark_images('bind')[0].id}-r2-s2" / "run.json").read_text())
    assert record["block_rule"] == {"content": list(blocks["content"]), "style": list(blocks["style"])}


def test_saturation_is_the_fewest_steps_within_the_tolerance_of_the_best():
    from toyworld.saturation import saturation_table

    steps = [25, 50, 100, 200]
    means = {
        "early": pd.DataFrame(
            {
                "rank": 16,
                "steps": steps,
                "content_fidelity": [0.2, 0.75, 0.8, 0.7],
                "style_fidelity": [0.1, 0.2, 0.3, 0.9],
                "joint_fidelity": [0.5, 0.5, 0.5, 0.5],
            }
        ),
        "late": pd.DataFrame(
            {
                "rank": 16,
                "steps": steps[::-1],
                "content_fidelity": [0.9, 0.6, 0.3, 0.1],
                "style_fidelity": [0.9, 0.85, 0.2, 0.1],
                "joint_fidelity": [0.0, 0.0, 0.0, 0.0],
            }
        ),
    }  # fmt: skip  ("late" lists its steps from the longest: the table sorts them)
    table = saturation_table(means, tolerance=0.1).set_index(["method", "fidelity"])
    early_content = table.loc[("early", "content_fidelity"), ["best_steps", "saturates_at", "rising"]].tolist()
    assert early_content == [100, 50, False]
    assert table.loc[("early", "style_fidelity"), ["saturates_at", "rising"]].tolist() == [200, True]
    assert table.loc[("early", "joint_fidelity"), "saturates_at"] == 25  # flat: saturated from the first point
    assert table.loc[("late", "content_fidelity"), ["best", "saturates_at", "rising"]].tolist() == [0.9, 200, True]
    assert table.loc[("late", "style_fidelity"), ["saturates_at", "rising"]].tolist() == [100, False]


def test_write_saturation_writes_table_and_figure_and_refuses_a_missing_or_multi_rank_sweep(tmp_path):
    from toyworld.saturation import write_saturation

    columns = ("content_fidelity", "style_leakage", "style_fidelity", "content_leakage", "joint_fidelity")
    for method, rank in (("a", 16), ("b", 16), ("two_ranks", 4)):
        frame = pd.DataFrame({"rank": 16, "steps": [50, 100], **{c: [0.2, 0.6] for c in columns}})
        if method == "two_ranks":
            frame.loc[0, "rank"] = rank
        (tmp_path / method).mkdir()
        frame.to_csv(tmp_path / method / "sweep_mean.csv", index=False)
    table = write_saturation(tmp_path / "out", {"a": tmp_path / "a", "b": tmp_path / "b"})
    assert len(table) == 6 and set(table["saturates_at"]) == {100}
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"steps.csv", "saturation.csv", "saturation.png"}
    with pytest.raises(ValueError, match="no step sweep of c at"):
        write_saturation(tmp_path / "bad", {"a": tmp_path / "a", "c": tmp_path / "c"})
    with pytest.raises(ValueError, match="sweeps 2 ranks"):
        write_saturation(tmp_path / "bad", {"two_ranks": tmp_path / "two_ranks"})
