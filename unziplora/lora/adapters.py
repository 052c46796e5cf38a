"""Adding named peft LoRA adapters to a stock UNet and finding the layers that carry them."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import torch
from peft import LoraConfig
from peft.tuners.lora import LoraLayer

from unziplora.blocks import TARGET_PROJECTIONS, lora_target_names


def add_adapters(
    unet: torch.nn.Module,
    adapters: Iterable[str],
    rank: int,
    blocks: Iterable[str] = (),
    init: str = "gaussian_both",
    generator: torch.Generator | None = None,
) -> list[str]:
    """Add one peft LoRA adapter per name to the attention projections of `unet` and make them all trainable.

    LoRA scale is 1 (lora_alpha = rank), as the official code applies no alpha scaling. `init="gaussian_both"`
    redraws A and B from N(0, (1/rank)^2) with `generator` (the official layer's init, spec §1.1);
    `"peft_gaussian"` keeps peft's A ~ N(0, 1/rank), B = 0, redrawn with `generator` for determinism.
    Returns the names of the LoRA-carrying linears.
    """
    adapters = list(adapters)
    names = lora_target_names((n for n, _ in unet.named_modules()), blocks)
    if not names:
        raise ValueError(f"no attention projections {TARGET_PROJECTIONS} found under blocks {list(blocks)}")
    for name in adapters:
        config = LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian", target_modules=names)
        with warnings.catch_warnings():  # a second adapter is intended here
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")
            unet.add_adapter(config, adapter_name=name)
    unet.set_adapters(adapters)  # add_adapter activates only the newest one
    for layer in lora_layers(unet).values():
        for name in adapters:
            _init_lora(layer, name, rank, init, generator)
    for name, param in unet.named_parameters():
        param.requires_grad_(any(f".{a}." in name for a in adapters) and "lora_" in name)
    return names


def _init_lora(layer: LoraLayer, adapter: str, rank: int, init: str, generator: torch.Generator | None) -> None:
    a, b = layer.lora_A[adapter].weight, layer.lora_B[adapter].weight
    with torch.no_grad():
        # Draw on the CPU with the run's generator so the same seed gives the same weights on every device.
        a.copy_(torch.randn(a.shape, generator=generator) / rank)
        if init == "gaussian_both":
            b.copy_(torch.randn(b.shape, generator=generator) / rank)
        elif init == "peft_gaussian":
            b.zero_()
        else:
            raise ValueError(f"unknown lora_init {init!r}; choose 'gaussian_both' or 'peft_gaussian'")


def lora_layers(unet: torch.nn.Module) -> dict[str, LoraLayer]:
    """Module name → peft LoRA layer, for every layer that carries at least one adapter."""
    return {name: m for name, m in unet.named_modules() if isinstance(m, LoraLayer)}


def lora_parameters(unet: torch.nn.Module, adapter: str) -> list[torch.nn.Parameter]:
    """The A and B weights of one adapter across the UNet, in module order."""
    params = []
    for layer in lora_layers(unet).values():
        if adapter in layer.lora_A:
            params += [layer.lora_A[adapter].weight, layer.lora_B[adapter].weight]
    return params
