"""Writing trained LoRAs as standard diffusers LoRA safetensors (stock `load_lora_weights` reads them)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from diffusers import StableDiffusionXLPipeline
from safetensors.torch import save_file

from unziplora.blocks import under
from unziplora.lora.adapters import lora_layers

Gate = Callable[[str], torch.Tensor]  # module name → per-output-channel factor, baked into lora_B rows


def adapter_state_dict(unet: torch.nn.Module, adapter: str, gate: Gate | None = None) -> dict[str, torch.Tensor]:
    """`{module}.lora_A.weight` / `.lora_B.weight` of one adapter, with `gate(module)` baked into the B rows.

    Baking a per-output-channel factor g into B is exact: (g ⊙ B)·A·x = g ⊙ (B·A·x), so masks and mergers become
    part of an ordinary LoRA.
    """
    state = {}
    for name, layer in lora_layers(unet).items():
        if adapter not in layer.lora_A:
            continue
        a = layer.lora_A[adapter].weight.detach()
        b = layer.lora_B[adapter].weight.detach() * layer.scaling[adapter]
        if gate is not None:
            b = b * gate(name).detach().to(b)[:, None]
        state[f"{name}.lora_A.weight"] = a.float().cpu().contiguous()
        state[f"{name}.lora_B.weight"] = b.float().cpu().contiguous()
    if not state:
        raise ValueError(f"the UNet carries no LoRA adapter named {adapter!r}")
    return state


def split_by_block(state: dict, split: dict[str, str | tuple[str, ...]]) -> dict[str, dict]:
    """Cut one LoRA's state dict into files by block: `split` maps file name → module-name prefix or prefixes
    (B-LoRA: content = `up_blocks.0.attentions.0`, style = `.1`). Every module must fall in exactly one file."""
    out: dict[str, dict] = {name: {} for name in split}
    prefixes = {name: (p,) if isinstance(p, str) else tuple(p) for name, p in split.items()}
    for key, value in state.items():
        module = key.rsplit(".lora_", 1)[0]
        owners = [name for name, ps in prefixes.items() if any(under(module, p) for p in ps)]
        if len(owners) != 1:
            raise ValueError(f"LoRA module {module} lies in {len(owners)} of the blocks {list(split.values())}")
        out[owners[0]][key] = value
    empty = [name for name, st in out.items() if not st]
    if empty:
        raise ValueError(f"no LoRA module under the block(s) of {empty}; is this an SDXL-architecture UNet?")
    return out


def lora_metadata(state: dict[str, torch.Tensor]) -> dict:
    """peft LoraConfig fields for the header: rank, alpha = rank (scale 1) and the exact target modules.

    Lists are sorted so the same weights give byte-identical files (a set would follow the hash seed).
    """
    targets = sorted({k.rsplit(".lora_", 1)[0] for k in state})
    rank = next(t.shape[0] for k, t in state.items() if k.endswith("lora_A.weight"))
    return {"r": rank, "lora_alpha": rank, "target_modules": targets, "lora_dropout": 0.0, "bias": "none"}


def save_lora(path: Path, state: dict[str, torch.Tensor]) -> None:
    """Write `state` to `path` as a diffusers SDXL LoRA file (`unet.`-prefixed keys, adapter metadata)."""
    path = Path(path)
    StableDiffusionXLPipeline.save_lora_weights(
        path.parent, unet_lora_layers=state, weight_name=path.name, unet_lora_adapter_metadata=lora_metadata(state)
    )
    canonicalize_header(path)


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Plain safetensors file (mergers and masks)."""
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
    canonicalize_header(path)


def canonicalize_header(path: Path) -> None:
    """Rewrite a safetensors header with sorted keys, in place.

    safetensors serialises the metadata from a hash map, so with two or more metadata entries the byte order
    of the header changes from run to run; sorting makes the same weights give byte-identical files. The sorted
    JSON has the same length (same entries), so the tensor data offsets stay valid.
    """
    with open(path, "r+b") as fh:
        size = int.from_bytes(fh.read(8), "little")
        raw = fh.read(size)
        header = json.loads(raw)
        if isinstance(header.get("__metadata__"), dict):
            header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
        canonical = json.dumps(header, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
        if len(canonical) > size:
            raise RuntimeError(f"cannot canonicalise the header of {path}: it would grow")
        fh.seek(8)
        fh.write(canonical + b" " * (size - len(canonical)))  # safetensors pads headers with spaces
