"""The baselines (spec §3) as registry entries trained by the one loop: DreamBooth-LoRA, B-LoRA and the base model."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from diffusers import UNet2DConditionModel
from safetensors import safe_open

from tests.conftest import unet_inputs
from unziplora.blocks import under
from unziplora.config import PromptSet, TrainConfig
from unziplora.lora.adapters import add_adapters, lora_layers
from unziplora.lora.io import split_by_block
from unziplora.methods import BLORA_CONTENT_BLOCK, BLORA_STYLE_BLOCK, get_method
from unziplora.sdxl import SDXL_UNET_CONFIG
from unziplora.train import train


def _config(method: str, **changes) -> TrainConfig:
    return TrainConfig.for_method(
        method, **{"steps": 3, "resolution": 32, "lora": {"rank": 4}, "progress": False, **changes}
    )


def _modules(path) -> set[str]:
    with safe_open(str(path), "pt") as f:
        return {k.removeprefix("unet.").rsplit(".lora_", 1)[0] for k in f.keys()}


def test_baselines_carry_their_own_published_settings():
    for key in ("dreambooth_lora", "blora"):
        c = TrainConfig.for_method(key)
        assert (c.steps, c.lora.lr, c.lora.rank, c.lora.init) == (1000, 5e-5, 64, "peft_gaussian")
    assert TrainConfig.for_method("unziplora") == TrainConfig()  # the full method keeps the official train.sh
    assert TrainConfig.for_method("blora", steps=7).steps == 7
    assert get_method("dreambooth_lora").runs_per_image == 2 and get_method("blora").runs_per_image == 1
    assert not get_method("base").trains and get_method("base").runs_per_image == 0


@pytest.mark.parametrize("method", ["dreambooth_lora", "blora"])
def test_baseline_files_load_into_a_stock_pipeline_and_change_its_output(tiny_pipe, image, prompts, tmp_path, method):
    stock = copy.deepcopy(tiny_pipe)
    out = tmp_path / "out"
    record = train(tiny_pipe, image, prompts, _config(method), out)
    assert {p.name for p in out.iterdir()} == {"content.safetensors", "style.safetensors", "run.json"}
    saved = json.loads((out / "run.json").read_text())
    assert saved["method"] == method and saved["config"]["lora"]["init"] == "peft_gaussian"
    assert saved["config"]["lora"]["lr"] == 5e-5 and saved["config"]["steps"] == 3
    assert "columns" not in saved["config"]  # mergers, Cone selection, orthogonality: not UnZipLoRA's
    inputs = unet_inputs(stock)
    with torch.no_grad():
        before = stock.unet(**inputs).sample
    for name in ("content", "style"):
        stock.load_lora_weights(out, weight_name=f"{name}.safetensors", adapter_name=name)
        injected = {n for n, m in lora_layers(stock.unet).items() if name in m.lora_A}
        assert injected == _modules(out / f"{name}.safetensors")
        assert record["lora"]["modules_per_file"][name] == len(injected)
        stock.set_adapters([name])
        with torch.no_grad():
            assert not torch.allclose(stock.unet(**inputs).sample, before), name


def test_dreambooth_lora_is_two_independent_runs_on_the_two_prompts(tiny_pipe, image, tmp_path):
    a = train(
        copy.deepcopy(tiny_pipe),
        image,
        PromptSet.from_names("cat", "sketch"),
        _config("dreambooth_lora"),
        tmp_path / "a",
    )
    train(tiny_pipe, image, PromptSet.from_names("cat", "watercolor"), _config("dreambooth_lora"), tmp_path / "b")
    assert a["training_prompts"] == {"content": "A monadikos cat", "style": "A cat in sketch style"}
    assert [r["adapters"] for r in a["runs"]] == [["content"], ["style"]]
    assert a["cost"] == {**a["cost"], "runs_per_image": 2, "steps_per_run": 3, "steps_per_image": 6}
    assert len(a["loss"]["curve"]) == 6 and a["lora"]["modules_per_lora"] == 88
    # The content LoRA never sees the style prompt: changing the style leaves its file byte-identical.
    content = [(tmp_path / d / "content.safetensors").read_bytes() for d in "ab"]
    style = [(tmp_path / d / "style.safetensors").read_bytes() for d in "ab"]
    assert content[0] == content[1] and style[0] != style[1]


def test_blora_trains_one_lora_on_two_blocks_and_cuts_it_by_block(tiny_pipe, image, prompts, tmp_path):
    tmp_path = tmp_path / "out"
    record = train(tiny_pipe, image, prompts, _config("blora"), tmp_path)
    assert record["training_prompts"] == {"token": "A monadikos"}
    assert record["blocks"] == [BLORA_CONTENT_BLOCK, BLORA_STYLE_BLOCK] and record["cost"]["runs_per_image"] == 1
    content, style = _modules(tmp_path / "content.safetensors"), _modules(tmp_path / "style.safetensors")
    assert content and all(under(n, BLORA_CONTENT_BLOCK) for n in content)
    assert style and all(under(n, BLORA_STYLE_BLOCK) for n in style)
    assert len(content) + len(style) == record["lora"]["modules_per_lora"] == 16  # 2 attention modules × 2 × 4


def test_blora_touches_160_linears_of_the_sdxl_unet():
    with torch.device("meta"):
        unet = UNet2DConditionModel(**SDXL_UNET_CONFIG)
    spec = get_method("blora")
    add_adapters(unet, spec.adapters, rank=64, blocks=spec.target_blocks)
    names = list(lora_layers(unet))
    assert len(names) == 160
    state = {f"{n}.lora_{ab}.weight": None for n in names for ab in "AB"}
    files = split_by_block(state, spec.split)
    assert len(files["content"]) == len(files["style"]) == 160  # 80 linears each, A and B
    assert all(under(k, BLORA_CONTENT_BLOCK) for k in files["content"])
    with pytest.raises(ValueError, match="lies in 0 of the blocks"):
        split_by_block({"down_blocks.1.attentions.0.x.to_q.lora_A.weight": None}, spec.split)


def test_base_model_trains_nothing_and_writes_only_its_record(tiny_pipe, image, prompts, tmp_path):
    tmp_path = tmp_path / "out"
    weights = copy.deepcopy(tiny_pipe.unet.state_dict())
    record = train(tiny_pipe, image, prompts, _config("base"), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]
    assert record["files"] == {} and record["cost"]["train_s_per_image"] == 0.0
    assert set(record["config"]) == {"method", "seed", "device"}  # no training setting recorded as if it applied
    assert all(torch.equal(v, tiny_pipe.unet.state_dict()[k]) for k, v in weights.items())
