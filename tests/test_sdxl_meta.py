"""The full SDXL UNet architecture, built on the meta device (no memory, no download)."""

from __future__ import annotations

import torch
from diffusers import UNet2DConditionModel

from unziplora.blocks import lora_target_names
from unziplora.lora.adapters import add_adapters, lora_layers
from unziplora.sdxl import SDXL_UNET_CONFIG


def _meta_unet():
    with torch.device("meta"):
        return UNet2DConditionModel(**SDXL_UNET_CONFIG)


def test_sdxl_unet_size_and_lora_targets():
    unet = _meta_unet()
    assert sum(p.numel() for p in unet.parameters()) == 2_567_463_684
    names = [n for n, _ in unet.named_modules()]
    assert len(lora_target_names(names)) == 560  # 70 transformer blocks × 2 attentions × 4 projections
    blora = lora_target_names(names, ["up_blocks.0.attentions.0", "up_blocks.0.attentions.1"])
    assert len(blora) == 160


def test_two_adapters_on_the_meta_sdxl_unet():
    unet = _meta_unet()
    add_adapters(unet, ["content", "style"], rank=64)
    layers = lora_layers(unet)
    assert len(layers) == 560
    assert all({"content", "style"} <= set(m.lora_A) for m in layers.values())
    per_lora = sum(p.numel() for n, p in unet.named_parameters() if ".content." in n)
    assert 92_000_000 < per_lora < 94_000_000  # spec §1.1: ≈ 92.9 M parameters per rank-64 LoRA
