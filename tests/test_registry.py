"""The method registry: ablations differ from the full method in exactly their switches."""

from __future__ import annotations

import dataclasses

import pytest

from unziplora.config import PromptSet, TrainConfig
from unziplora.methods import METHODS, get_method

SWITCHES = ("separate_prompts", "column_separation", "block_separation")


def _differences(a, b) -> set[str]:
    return {
        f.name
        for f in dataclasses.fields(a)
        # the sensitive blocks are block separation's own setting (checked below), not a further switch
        if f.name not in ("key", "label", "summary", "blocks") and getattr(a, f.name) != getattr(b, f.name)
    }


def test_ablations_differ_from_the_full_method_in_exactly_their_switches():
    full = get_method("unziplora")
    assert all(getattr(full, s) for s in SWITCHES) and full.label == "M3"
    assert _differences(get_method("column_sep"), full) == {"block_separation"}
    assert _differences(get_method("prompt_sep"), full) == {"block_separation", "column_separation"}
    assert _differences(get_method("joint"), full) == set(SWITCHES)
    assert all(not get_method(k).block_rule() for k in ("joint", "prompt_sep", "column_sep")) and full.block_rule()
    assert [METHODS[k].label for k in ("joint", "prompt_sep", "column_sep", "unziplora")] == ["M0", "M1", "M2", "M3"]


def test_registry_keys_are_wildcard_safe_and_unknown_keys_fail_clearly():
    assert all(k == m.key and k.replace("_", "").isalnum() for k, m in METHODS.items())
    with pytest.raises(ValueError, match="unknown method 'zip'.*unziplora"):
        get_method("zip")


def test_invalid_method_combinations_are_rejected():
    with pytest.raises(ValueError, match="block separation needs column separation"):
        dataclasses.replace(get_method("prompt_sep"), key="x", block_separation=True)


def test_prompt_template_matches_the_official_code():
    p = PromptSet.from_names("cat", "sketch")
    assert p == PromptSet("A monadikos cat in sketch style", "A monadikos cat", "A cat in sketch style")
    with pytest.raises(ValueError, match="non-empty"):
        PromptSet.from_names(" ", "sketch")


def test_train_config_defaults_follow_the_spec_and_reject_unknown_options():
    c = TrainConfig()
    assert (
        c.lora.rank,
        c.steps,
        c.lora.lr,
        c.columns.merger_lr,
        c.optimizer.weight_decay,
        c.optimizer.max_grad_norm,
        c.seed,
    ) == (
        64,
        600,
        5e-5,
        5e-3,
        1e-4,
        1.0,
        0,
    )
    assert (c.columns.ratio, c.columns.rounds, c.columns.orthogonality_weight, c.columns.cone_threshold) == (
        0.1,
        3,
        0.5,
        1e-5,
    )
    assert TrainConfig.from_dict({"steps": 10}).steps == 10
    with pytest.raises(ValueError, match=r"unknown train option\(s\) \['train.stepz'\]"):
        TrainConfig.from_dict({"stepz": 10})
    with pytest.raises(ValueError, match=r"unknown train.lora option\(s\) \['train.lora.rnk'\]; known: \['rank'"):
        TrainConfig.from_dict({"lora": {"rnk": 4}})  # every level refuses what it does not know
    with pytest.raises(ValueError, match="init must be one of"):
        TrainConfig(lora={"init": "zeros"})
    assert TrainConfig(lora={"rank": 4}).lora.lr == 5e-5  # a section given in part keeps the rest's defaults
    with pytest.raises(ValueError, match="resolution"):
        TrainConfig(resolution=30)
