"""Block rules as settings: UnZipLoRA's sensitive blocks and B-LoRA's two blocks can be moved to the blocks a probe
measured on a base model other than SDXL (the toy world), with SDXL's names as the default."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from safetensors import safe_open

from unziplora.blocks import CONTENT_SENSITIVE, STYLE_SENSITIVE, Blocks, block_group, under
from unziplora.config import TrainConfig
from unziplora.lora.adapters import add_adapters
from unziplora.lora.columns import ColumnSeparation
from unziplora.methods import BLORA_CONTENT_BLOCK, BLORA_STYLE_BLOCK, get_method, method_settings, standard_methods
from unziplora.train import train

CONTENT = ("up_blocks.0.attentions.0",)
STYLE = ("up_blocks.0.attentions.2", "up_blocks.1.attentions.0")


def _config(method: str, **changes) -> TrainConfig:
    return TrainConfig.for_method(
        method, **{"steps": 6, "resolution": 32, "lora": {"rank": 4}, "progress": False, **changes}
    )


def _modules(path) -> set[str]:
    with safe_open(str(path), "pt") as f:
        return {k.removeprefix("unet.").rsplit(".lora_", 1)[0] for k in f.keys()}


def test_defaults_are_sdxl_blocks_and_settings_replace_them():
    assert get_method("unziplora").block_rule() == Blocks(CONTENT_SENSITIVE, STYLE_SENSITIVE)
    assert get_method("blora").block_rule() == Blocks((BLORA_CONTENT_BLOCK,), (BLORA_STYLE_BLOCK,))
    assert TrainConfig.for_method("unziplora").method_spec() == get_method("unziplora")
    moved = TrainConfig.for_method("blora", blocks={"content": list(CONTENT), "style": list(STYLE)}).method_spec()
    assert moved.block_rule() == Blocks(CONTENT, STYLE) and moved.target_blocks == CONTENT + STYLE
    only_style = TrainConfig.for_method("unziplora", blocks={"style": STYLE[1:]}).method_spec()
    assert only_style.block_rule() == Blocks(CONTENT_SENSITIVE, STYLE[1:])  # content keeps SDXL's


def test_methods_without_a_block_rule_refuse_blocks_and_overlaps_are_refused():
    for method in ("joint", "prompt_sep", "column_sep", "dreambooth_lora", "base"):
        with pytest.raises(ValueError, match=f"method '{method}' has no block rule.*unziplora, blora"):
            TrainConfig.for_method(method, blocks={"content": CONTENT})
    with pytest.raises(ValueError, match="overlap"):
        TrainConfig.for_method("blora", blocks={"content": ("up_blocks.0",), "style": STYLE})


def test_block_groups_follow_the_given_blocks(tiny_pipe):
    name = "up_blocks.0.attentions.2.transformer_blocks.0.attn1.to_q"
    assert block_group(name) == "content" and block_group(name, CONTENT, STYLE) == "style"
    add_adapters(tiny_pipe.unet, ["content", "style"], rank=4, generator=torch.Generator().manual_seed(0))
    cols = ColumnSeparation(tiny_pipe.unet, 30, True, blocks=Blocks(CONTENT, STYLE))
    for (layer, adapter), st in cols.states.items():
        group = "content" if under(layer, CONTENT[0]) else "style" if any(under(layer, s) for s in STYLE) else "shared"
        assert st.group == group and st.sparse == (group != adapter), layer
    assert {st.group for st in cols.states.values()} == {"content", "style", "shared"}


def test_blora_on_moved_blocks_trains_and_splits_there(tiny_pipe, image, prompts, tmp_path):
    record = train(tiny_pipe, image, prompts, _config("blora", blocks={"content": CONTENT, "style": STYLE}), tmp_path)
    assert record["blocks"] == [*CONTENT, *STYLE]
    assert record["block_rule"] == {"content": list(CONTENT), "style": list(STYLE)}
    content, style = _modules(tmp_path / "content.safetensors"), _modules(tmp_path / "style.safetensors")
    assert content and all(under(n, CONTENT[0]) for n in content)
    assert {s for s in STYLE if any(under(n, s) for n in style)} == set(STYLE)  # both style blocks, nothing else
    assert all(any(under(n, s) for s in STYLE) for n in style)


def test_a_block_that_holds_no_attention_module_is_refused_before_training(tiny_pipe, image, prompts, tmp_path):
    config = _config("unziplora", blocks={"style": ("up_blocks.0.attentions.7",)})
    with pytest.raises(ValueError, match=r"style block 'up_blocks.0.attentions.7' .* holds no attention module"):
        train(tiny_pipe, image, prompts, config, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_sdxl_block_variants_equal_their_parents_but_stay_pinned_and_out_of_every_method():
    assert "unziplora_sdxl_blocks" not in standard_methods() and "unziplora" in standard_methods()
    for parent in ("unziplora", "blora"):
        variant = get_method(f"{parent}_sdxl_blocks")
        assert variant.variant_of == parent and variant.block_rule() == get_method(parent).block_rule()
        assert dataclasses.replace(
            variant, key=parent, label=get_method(parent).label, summary="", variant_of="", pins={}
        ) == dataclasses.replace(get_method(parent), summary="")  # the same switches and defaults: only the pin differs
        with pytest.raises(ValueError, match=f"pinned to SDXL's blocks; set the blocks of '{parent}'"):
            variant.with_blocks(Blocks(style=STYLE))
        with pytest.raises(ValueError, match=f"method_train.{parent}_sdxl_blocks sets blocks.style, which the variant"):
            method_settings({}, {f"{parent}_sdxl_blocks": {"blocks": {"style": STYLE}}}, f"{parent}_sdxl_blocks")
        with pytest.raises(ValueError, match="pins blocks.style = \\[\\], got"):
            TrainConfig.for_method(f"{parent}_sdxl_blocks", blocks={"style": STYLE})
        # The parent's preset blocks reach the variant and its pins drop them: SDXL's blocks, whatever the preset.
        settings = method_settings({}, {parent: {"blocks": {"content": STYLE[:1]}, "lora": {"rank": 2}}},
                                   f"{parent}_sdxl_blocks")  # fmt: skip
        config = TrainConfig.for_method(f"{parent}_sdxl_blocks", **settings)
        assert config.lora.rank == 2 and config.method_spec().block_rule() == get_method(parent).block_rule()


def test_the_tie_break_variants_inherit_the_parents_settings_and_pin_the_tie_break():
    measured = {"blocks": {"content": CONTENT, "style": STYLE}}
    for parent in ("column_sep", "unziplora"):
        key = f"{parent}_tie_break"
        assert get_method(key).variant_of == parent and key not in standard_methods()
        settings = {parent: {**(measured if parent == "unziplora" else {}), "lora": {"rank": 8}}}
        config = TrainConfig.for_method(key, **method_settings({}, settings, key))
        assert config.columns.tie_break and config.lora.rank == 8
        with pytest.raises(ValueError, match=f"{key} pins columns.tie_break = True, got False; drop columns.tie_break"):
            TrainConfig.for_method(key, columns={"tie_break": False})  # refused, not silently ignored
        assert not TrainConfig.for_method(parent, **method_settings({}, settings, parent)).columns.tie_break
        if parent == "unziplora":
            assert config.method_spec().block_rule() == Blocks(CONTENT, STYLE)


def test_a_calibrated_variant_needs_its_own_ratio_and_pins_the_tie_break():
    for parent in ("column_sep", "unziplora"):
        key = f"{parent}_calibrated"
        assert get_method(key).variant_of == parent and key not in standard_methods()
        with pytest.raises(ValueError, match=f"{key} needs columns.ratio set for it"):
            method_settings({"columns": {"ratio": 0.05}}, {}, key)  # a preset-wide ratio is no calibration
        config = TrainConfig.for_method(key, **method_settings({}, {key: {"columns": {"ratio": 0.02}}}, key))
        assert config.columns.tie_break and config.columns.ratio == 0.02
