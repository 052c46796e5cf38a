"""Saved LoRAs: standard diffusers files that a stock pipeline loads and that reproduce the trained UNet."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from safetensors import safe_open

from tests.conftest import tiny_config, unet_inputs
from unziplora.lora.adapters import add_adapters, lora_layers
from unziplora.lora.columns import ColumnSeparation
from unziplora.lora.io import adapter_state_dict, save_lora
from unziplora.train import TrainingDiverged, train


def _modules_in_file(path) -> set[str]:
    with safe_open(str(path), "pt") as f:
        return {k.removeprefix("unet.").rsplit(".lora_", 1)[0] for k in f.keys()}


def test_baked_masks_reload_into_a_stock_pipeline(tiny_pipe, tmp_path):
    stock = copy.deepcopy(tiny_pipe)
    unet = tiny_pipe.unet.eval()
    add_adapters(unet, ["content", "style"], rank=4, generator=torch.Generator().manual_seed(0))
    cols = ColumnSeparation(unet, 30, block_separation=True)
    g = torch.Generator().manual_seed(5)
    for st in cols.states.values():
        if st.sparse:
            st.mask = torch.rand(st.mask.shape, generator=g) < 0.3
    cols.masks_on = True  # mergers stay at 1: single-prompt mode equals the plain sum of the two LoRAs
    inputs = unet_inputs(tiny_pipe)
    with torch.no_grad():
        in_memory = unet(**inputs).sample
    for adapter in ("content", "style"):
        state = adapter_state_dict(unet, adapter, lambda n, a=adapter: cols.gate(n, a, merger=False))
        save_lora(tmp_path / f"{adapter}.safetensors", state)
        stock.load_lora_weights(tmp_path, weight_name=f"{adapter}.safetensors", adapter_name=adapter)
    stock.set_adapters(["content", "style"], adapter_weights=[1.0, 1.0])
    with torch.no_grad():
        reloaded = stock.unet(**inputs).sample
    torch.testing.assert_close(reloaded, in_memory, atol=1e-5, rtol=0)
    injected = {n for n, m in lora_layers(stock.unet).items() if "content" in m.lora_A}
    assert injected == _modules_in_file(tmp_path / "content.safetensors")
    assert len(injected) == 88  # 22 attention modules × 4 projections in the tiny UNet
    with safe_open(str(tmp_path / "content.safetensors"), "pt") as f:
        meta = json.loads(f.metadata()["lora_adapter_metadata"])
    assert meta["unet.r"] == 4 and meta["unet.lora_alpha"] == 4


@pytest.mark.parametrize("method", ["joint", "unziplora"])
def test_training_writes_loadable_deterministic_files(tiny_pipe, image, prompts, tmp_path, method, umask):
    pipe_copy = copy.deepcopy(tiny_pipe)
    rec = train(tiny_pipe, image, prompts, tiny_config(method=method), tmp_path / "a")
    train(pipe_copy, image, prompts, tiny_config(method=method), tmp_path / "b")
    expected = {"content.safetensors", "style.safetensors", "run.json"}
    if method == "unziplora":
        expected |= {"content_merged.safetensors", "style_merged.safetensors", "mergers.safetensors"}
    assert {p.name for p in (tmp_path / "a").iterdir()} == expected
    # Readable by others, like any file under umask 022: a colleague on a shared cluster can load the LoRAs.
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in (tmp_path / "a").iterdir()}
    assert modes == dict.fromkeys(expected, "0o644")
    for name in expected - {"run.json"}:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    record = json.loads((tmp_path / "a" / "run.json").read_text())
    assert record["method"] == method and record["seed"] == 0
    assert {"torch", "diffusers", "peft"} <= set(record["versions"])
    assert record["timing"]["s_per_step"] > 0 and record["peak_memory"]["bytes"] > 0
    assert len(record["loss"]["curve"]) == 12
    assert rec["lora"]["modules_per_lora"] == 88
    # The trained UNet was restored: no adapters left on the caller's pipeline.
    assert not lora_layers(tiny_pipe.unet)
    # Loadable by the stock loader, and it changes the output.
    inputs = unet_inputs(pipe_copy)
    with torch.no_grad():
        before = pipe_copy.unet(**inputs).sample
        pipe_copy.load_lora_weights(tmp_path / "a", weight_name="style.safetensors", adapter_name="style")
        after = pipe_copy.unet(**inputs).sample
    assert not torch.allclose(before, after)


def test_a_different_seed_gives_different_files(tiny_pipe, image, prompts, tmp_path):
    pipe_copy = copy.deepcopy(tiny_pipe)
    train(tiny_pipe, image, prompts, tiny_config(method="prompt_sep", seed=0), tmp_path / "a")
    train(pipe_copy, image, prompts, tiny_config(method="prompt_sep", seed=1), tmp_path / "b")
    assert (tmp_path / "a/content.safetensors").read_bytes() != (tmp_path / "b/content.safetensors").read_bytes()


def test_nan_loss_stops_training_and_writes_nothing(tiny_pipe, image, prompts, tmp_path):
    with torch.no_grad():
        tiny_pipe.unet.conv_out.bias.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="no LoRA was written"):
        train(tiny_pipe, image, prompts, tiny_config(method="unziplora"), tmp_path / "out")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    assert not lora_layers(tiny_pipe.unet)


def test_realised_mask_fractions_are_recorded_per_round(tiny_pipe, image, prompts, tmp_path, caplog):
    exact = train(copy.deepcopy(tiny_pipe), image, prompts, tiny_config(columns={"tie_break": True}), tmp_path / "tb")
    rounds = exact["columns"]["rounds"]
    assert [r["step"] for r in rounds] == [1, 5, 9]  # 12 steps, 3 rounds: selection at the 2nd step of each third
    # Shared layers of the tiny UNet have 64 output channels: floor(0.1·64) = 6 new columns per round.
    for i, r in enumerate(rounds, start=1):
        assert r["mask_fraction"]["shared"]["content"] == pytest.approx(i * 6 / 64)
        assert r["mask_fraction"]["style"]["style"] == 1.0  # style trains all columns in its own blocks
    faithful = train(tiny_pipe, image, prompts, tiny_config(), tmp_path / "f")
    assert faithful["columns"]["cone_grad_scale"] == 65536.0
    few = faithful["columns"]["final_mask_fraction"]["shared"]["content"] < 0.15
    assert few == ("ties at the threshold were dropped" in caplog.text)


def test_bf16_weights_with_fp32_loras_and_gradient_checkpointing(tiny_pipe, image, prompts, tmp_path):
    """The GPU recipe (bf16 UNet weights under autocast, fp32 LoRA parameters, checkpointing), run on the CPU."""
    config = tiny_config(mixed_precision="bf16", gradient_checkpointing="on")
    record = train(tiny_pipe, image, prompts, config, tmp_path)
    assert record["precision"].startswith("bf16") and record["gradient_checkpointing"] is True
    assert all(torch.isfinite(torch.tensor(record["loss"]["curve"])))
    with safe_open(str(tmp_path / "content.safetensors"), "pt") as f:
        assert all(f.get_tensor(k).dtype == torch.float32 for k in f.keys())
    assert tiny_pipe.unet.dtype == torch.float32  # the caller's UNet is handed back as it came
