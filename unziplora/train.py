"""The one training loop every method runs (spec §1.5–1.6); a method is a set of switches (`methods.py`).

Outputs, in `out_dir`: `<adapter>.safetensors` per LoRA (column masks baked into `lora_B` rows), and for
methods with column separation `<adapter>_merged.safetensors` (masks and mergers baked) and `mergers.safetensors`;
then `run.json`. All files appear only when the run succeeded.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, StableDiffusionXLPipeline
from PIL import Image
from tqdm.auto import tqdm

from unziplora.conditioning import Conditioning, encode_conditioning
from unziplora.config import PromptSet, TrainConfig
from unziplora.images import image_tensor, load_image
from unziplora.lora.adapters import add_adapters, lora_layers, lora_parameters
from unziplora.lora.columns import ColumnSeparation
from unziplora.lora.io import adapter_state_dict, save_lora, save_tensors
from unziplora.lora.processor import SEPARATED_INPUTS, install_separation
from unziplora.methods import MethodSpec, get_method
from unziplora.records import device_name, loss_summary, peak_memory, staged_outputs, versions, write_json

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; no LoRA is written."""


def resolve_device(name: str) -> torch.device:
    """ "auto" → CUDA when available, else CPU; an explicit "cuda" without a GPU is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is visible; use --device cpu")
    return device


def train(
    pipe: StableDiffusionXLPipeline,
    image: Image.Image | str | Path,
    prompts: PromptSet,
    config: TrainConfig,
    out_dir: str | Path,
) -> dict:
    """Train `config.method` on one image and write its LoRA files and `run.json` into `out_dir`.

    Returns the run record. The pipeline's UNet is trained in place and restored (adapters, hooks and
    processors removed) before returning, also on failure.
    """
    spec = get_method(config.method)
    device = resolve_device(config.device)
    bf16 = config.mixed_precision == "bf16" or (config.mixed_precision == "auto" and device.type == "cuda")
    checkpointing = config.gradient_checkpointing == "on" or (
        config.gradient_checkpointing == "auto" and device.type == "cuda"
    )
    unet = pipe.unet
    if getattr(unet, "peft_config", None):
        raise ValueError("the pipeline's UNet already carries LoRA adapters; pass a pipeline without LoRAs")
    pil = load_image(image) if isinstance(image, str | Path) else image
    source = _describe_image(image)

    t0 = time.perf_counter()
    generator = torch.Generator().manual_seed(config.seed)  # every random draw of the run comes from here
    torch.manual_seed(config.seed)
    cond = encode_conditioning(pipe, image_tensor(pil, config.resolution), prompts, config.resolution, device)
    encode_s = time.perf_counter() - t0

    original_processors = unet.attn_processors
    original_placement = (unet.device, unet.dtype)
    unet.requires_grad_(False)
    weight_dtype = torch.bfloat16 if bf16 else torch.float32
    if unet.device != device or unet.dtype != weight_dtype:
        unet.to(device, dtype=weight_dtype)
    columns = None
    try:
        add_adapters(unet, spec.adapters, config.rank, spec.target_blocks, config.lora_init, generator)
        for p in unet.parameters():
            if p.requires_grad:
                p.data = p.data.float()  # LoRA weights train in fp32 even when the UNet is stored in bf16
        if spec.separate_prompts:
            install_separation(unet)
        if spec.column_separation:
            columns = ColumnSeparation(
                unet,
                total_steps=config.steps,
                block_separation=spec.block_separation,
                ratio=config.column_ratio,
                rounds=config.column_rounds,
                threshold=config.cone_threshold,
                grad_scale=config.cone_grad_scale,
                tie_break=config.column_tie_break,
                content_first=config.content_first,
            )
        if checkpointing:
            unet.enable_gradient_checkpointing()
        unet.train()
        losses, train_s = _loop(pipe, unet, cond.to(device, unet.dtype), spec, config, columns, device, bf16, generator)
        with staged_outputs(Path(out_dir)) as stage:
            files = _save(stage, unet, spec, columns)
            record = {
                "method": spec.key,
                "method_spec": asdict(spec),
                "prompts": asdict(prompts),
                "image": source,
                "config": config.to_dict(),
                "seed": config.seed,
                "device": {"type": device.type, "name": device_name(device)},
                "precision": "bf16 autocast, fp32 LoRA" if bf16 else "fp32",
                "gradient_checkpointing": checkpointing,
                "versions": versions(),
                "timing": {
                    "encode_s": encode_s,
                    "train_s": train_s,
                    "s_per_step": train_s / config.steps,
                    "total_s": time.perf_counter() - t0,
                },
                "peak_memory": peak_memory(device),
                "loss": loss_summary(losses),
                "lora": {"rank": config.rank, "alpha": config.rank, "modules_per_lora": _count_modules(unet, spec)},
                "columns": _column_record(columns, config),
                "files": files,
            }
            write_json(stage / "run.json", record)
        return record
    finally:
        _restore(unet, columns, original_processors, checkpointing, original_placement)


def _loop(pipe, unet, cond: Conditioning, spec: MethodSpec, config: TrainConfig, columns, device, bf16, generator):
    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    groups = [{"params": lora_parameters(unet, a), "lr": config.lora_lr, "name": f"lora_{a}"} for a in spec.adapters]
    if columns is not None:
        groups.append({"params": columns.parameters(), "lr": config.merger_lr, "name": "mergers"})
    optimizer = _optimizer(groups, config)
    trainable = [p for g in groups for p in g["params"]]
    separated = {k: cond.embeds[a] for k, a in SEPARATED_INPUTS.items()} if spec.separate_prompts else None
    added = {"text_embeds": cond.pooled, "time_ids": cond.time_ids}
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    losses = []
    start = time.perf_counter()
    bar = tqdm(range(config.steps), desc=f"train {spec.key}", disable=not config.progress or None, leave=False)
    for step in bar:
        latents = cond.sample_latents(generator)
        noise = torch.randn(latents.shape, generator=generator)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (1,), generator=generator)
        noisy = scheduler.add_noise(latents, noise, t)
        target = noise if scheduler.config.prediction_type == "epsilon" else scheduler.get_velocity(latents, noise, t)
        with autocast:
            pred = unet(
                noisy.to(device, unet.dtype),
                t.to(device),
                encoder_hidden_states=cond.embeds["combined"],
                added_cond_kwargs=added,
                cross_attention_kwargs=separated,
            ).sample
        loss = F.mse_loss(pred.float(), target.to(device).float())
        if columns is not None and columns.masks_on:
            loss = loss + config.orthogonality_weight * columns.orthogonality_loss()
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"training loss became {loss.item()} at step {step}; no LoRA was written — lower the learning "
                f"rates or use fp32 (--mixed-precision no)"
            )
        loss.backward()
        if columns is not None and columns.after_backward(step) == "select":
            _warn_if_few_columns(columns, config)
        torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if columns is not None:
            columns.clamp_()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return losses, time.perf_counter() - start


def _warn_if_few_columns(columns: ColumnSeparation, config: TrainConfig) -> None:
    """The faithful selection drops ties at the threshold and may pick far fewer columns than nominal: say so."""
    fractions = columns.history[-1]["mask_fraction"].get("shared", {})
    nominal = config.column_ratio * len(columns.history)
    low = {a: f for a, f in fractions.items() if f < 0.5 * nominal}
    if low and not config.column_tie_break:
        log.warning(
            "column selection round %d realised %s of the shared-block columns (nominal %.0f%%): ties at the "
            "threshold were dropped, as in the official code; set column_tie_break=True to pick exactly the ratio",
            len(columns.history),
            {a: f"{f:.1%}" for a, f in low.items()},
            100 * nominal,
        )


def _optimizer(groups: list[dict], config: TrainConfig) -> torch.optim.Optimizer:
    kwargs = dict(betas=config.adam_betas, eps=config.adam_eps, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, **kwargs)
    if config.optimizer == "adamw8bit":
        try:
            import bitsandbytes as bnb
        except ImportError:
            raise ValueError("optimizer 'adamw8bit' needs bitsandbytes: pip install '.[bnb]' (CUDA only)") from None
        return bnb.optim.AdamW8bit(groups, **kwargs)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; choose 'adamw' or 'adamw8bit'")


def _save(stage: Path, unet, spec: MethodSpec, columns: ColumnSeparation | None) -> dict[str, str]:
    """`<adapter>.safetensors` (masks baked in) and, with columns, `<adapter>_merged.safetensors` (masks and
    mergers baked in) and `mergers.safetensors`. All masks count as on when saving, as in the official code."""
    files = {}
    variants = [("", False)] if columns is None else [("", False), ("_merged", True)]
    for adapter in spec.adapters:
        for suffix, with_merger in variants:
            gate = None
            if columns is not None:
                gate = lambda n, a=adapter, m=with_merger: columns.gate(n, a, masks_on=True, merger=m)  # noqa: E731
            save_lora(stage / f"{adapter}{suffix}.safetensors", adapter_state_dict(unet, adapter, gate))
            files[f"{adapter}{suffix}"] = f"{adapter}{suffix}.safetensors"
    if columns is not None:
        tensors = {}
        for (name, adapter), st in columns.states.items():
            tensors[f"{adapter}.{name}.merger"] = st.merger
            tensors[f"{adapter}.{name}.mask"] = st.mask
        save_tensors(stage / "mergers.safetensors", tensors, {"format": "pt"})
        files["mergers"] = "mergers.safetensors"
    return files


def _count_modules(unet, spec: MethodSpec) -> int:
    return sum(1 for layer in lora_layers(unet).values() if spec.adapters[0] in layer.lora_A)


def _column_record(columns: ColumnSeparation | None, config: TrainConfig) -> dict | None:
    if columns is None:
        return None
    return {
        "ratio_per_round": config.column_ratio,
        "rounds": columns.history,
        "final_mask_fraction": columns.mask_fractions(),
        "period_steps": columns.period,
        "tie_break": config.column_tie_break,
        # Units of the threshold: |cone| of true gradients × cone_grad_scale > cone_threshold. No GradScaler
        # runs here (bf16/fp32), so the scale in use is this fixed emulation of fp16's initial 2**16.
        "cone_threshold": config.cone_threshold,
        "cone_grad_scale": config.cone_grad_scale,
        "grad_scaler": None,
    }


def _describe_image(image) -> dict:
    if isinstance(image, str | Path):
        return {"path": str(image), "sha256": hashlib.sha256(Path(image).read_bytes()).hexdigest()}
    return {"path": None, "size": list(image.size), "mode": image.mode}


def _restore(unet, columns, processors, checkpointing: bool, placement) -> None:
    if columns is not None:
        columns.remove_hooks()
    if getattr(unet, "peft_config", None):
        unet.unload_lora()  # removes the peft wrappers, leaving the base linears as they were
    unet.set_attn_processor(processors)
    if checkpointing:
        unet.disable_gradient_checkpointing()
    unet.requires_grad_(False)
    unet.eval()
    if (unet.device, unet.dtype) != placement:
        unet.to(*placement)
