"""The column probe (unziplora.column_probe): it trains a column method only up to its last selection round, writes
nothing, and reports what a full training run's rounds keep, layer by layer."""

from __future__ import annotations

import copy

import pytest

from tests.conftest import tiny_config
from unziplora.blocks import lora_target_names
from unziplora.column_probe import probe_columns, probe_steps
from unziplora.lora.adapters import lora_layers
from unziplora.train import train


def test_the_probe_runs_up_to_its_last_round_and_keeps_what_a_full_run_keeps(tiny_pipe, image, prompts, tmp_path):
    # 3 rounds, period 4: selections at steps 1, 5 and 9; the tie-break rule, since the faithful one keeps nothing on
    # the tiny model (every score ties), and a probe whose masks stay empty would show little
    config = tiny_config(method="unziplora", steps=12, columns={"tie_break": True})
    assert probe_steps(config) == 10 and probe_steps(config, rounds=1) == 2
    rows, record = probe_columns(tiny_pipe, image, prompts, config)
    assert record["cost"]["steps_per_image"] == 10 and "files" not in record
    assert not lora_layers(tiny_pipe.unet)  # the UNet is left as it was
    full = train(copy.deepcopy(tiny_pipe), image, prompts, config, tmp_path / "full")
    probed = [r["mask_fraction"] for r in record["columns"]["rounds"]]
    assert probed == [r["mask_fraction"] for r in full["columns"]["rounds"]]  # the same draws, the same selection
    targets = lora_target_names(n for n, _ in tiny_pipe.unet.named_modules())
    assert {(r["layer"], r["adapter"]) for r in rows} == {(t, a) for t in targets for a in ("content", "style")}
    assert len(rows) == 3 * 2 * len(targets)  # every layer and LoRA, after each round
    assert {r["round"] for r in rows} == {1, 2, 3} and {r["group"] for r in rows} == {"content", "style", "shared"}
    released = [r for r in rows if r["group"] == r["adapter"]]  # a LoRA's own sensitive blocks: every column
    assert released and all(r["kept"] == r["columns"] for r in released)
    by_round = {}
    for r in rows:
        by_round.setdefault((r["layer"], r["adapter"]), []).append(r["kept"])
    shared = [r for r in rows if r["group"] == "shared" and r["adapter"] == "content" and r["round"] == 1]
    assert sum(r["kept"] for r in shared) / sum(r["columns"] for r in shared) == probed[0]["shared"]["content"]
    assert all(a <= b <= c for a, b, c in by_round.values()) and any(a < c for a, _, c in by_round.values())


def test_one_round_costs_two_steps_and_the_probe_refuses_what_it_cannot_probe(tiny_pipe, image, prompts):
    rows, record = probe_columns(tiny_pipe, image, prompts, tiny_config(method="column_sep", steps=12), rounds=1)
    assert record["cost"]["steps_per_image"] == 2 and {r["round"] for r in rows} == {1}
    with pytest.raises(ValueError, match="rounds must be between 1 and columns.rounds"):
        probe_columns(tiny_pipe, image, prompts, tiny_config(method="column_sep", steps=12), rounds=4)
    with pytest.raises(ValueError, match="needs a column method"):
        probe_columns(tiny_pipe, image, prompts, tiny_config(method="prompt_sep", steps=12))
