"""The one training loop every method runs (spec §1.5–1.6); a method is a set of switches (`methods.py`).

Outputs, in `out_dir`: `content.safetensors` and `style.safetensors` (column masks baked into `lora_B` rows; B-LoRA's
one LoRA cut by block; DreamBooth-LoRA's two LoRAs from two independent runs), and for methods with column
separation `<adapter>_merged.safetensors` (masks and mergers baked) and `mergers.safetensors`; then `run.json`.
All files appear only when the run succeeded.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, StableDiffusionXLPipeline
from PIL import Image
from tqdm.auto import tqdm

from plumbing.devices import device_name, peak_memory, resolve_device
from plumbing.records import loss_summary, staged_outputs, versions, write_json
from unziplora.blocks import unmatched_blocks
from unziplora.conditioning import Conditioning, encode_conditioning
from unziplora.config import OptimizerConfig, PromptSet, TrainConfig
from unziplora.images import image_tensor, load_image
from unziplora.lora.adapters import add_adapters, lora_layers, lora_parameters
from unziplora.lora.columns import ColumnSeparation
from unziplora.lora.io import adapter_state_dict, save_lora, save_tensors, split_by_block
from unziplora.lora.processor import SEPARATED_INPUTS, install_separation
from unziplora.methods import MethodSpec


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; no LoRA is written."""


def training_prompts(spec: MethodSpec, prompts: PromptSet) -> dict[str, str]:
    """Prompt name → text, for every prompt a method's training reads (see `MethodSpec.prompt`)."""
    if spec.prompt == "token":
        return {"token": f"A {prompts.token}"}  # B-LoRA's "A [v]"
    if spec.prompt == "own":
        return {a: getattr(prompts, a) for a in spec.adapters}
    return {"combined": prompts.combined, "content": prompts.content, "style": prompts.style}


def check_block_rule(spec: MethodSpec, module_names: list[str]) -> None:
    """Refuse a block rule with a block that holds no attention module of this UNet (a misspelt name)."""
    rule = spec.block_rule()
    for kind, prefixes in ((k, getattr(rule, k)) for k in ("content", "style") if rule):
        missing = unmatched_blocks(module_names, prefixes)
        if missing:
            raise ValueError(
                f"{kind} block {missing[0]!r} of method {spec.key!r} holds no attention module of this UNet; "
                "use block names like up_blocks.0.attentions.0 (see unziplora.blocks)"
            )


def run_plan(spec: MethodSpec) -> list[tuple[tuple[str, ...], str]]:
    """(adapters trained together, name of the prompt the UNet reads) per training run of one image."""
    if spec.independent_runs:
        return [((a,), a) for a in spec.adapters]
    return [(spec.adapters, "token" if spec.prompt == "token" else "combined")]


def train(
    pipe: StableDiffusionXLPipeline,
    image: Image.Image | str | Path,
    prompts: PromptSet,
    config: TrainConfig,
    out_dir: str | Path,
    model: str | None = None,
    provenance: dict | None = None,
    probe_rounds: int | None = None,
) -> dict:
    """Train `config.method` on one image and write its LoRA files and `run.json` into `out_dir`.

    `probe_rounds` (column methods, `out_dir` None) stops after that many column-selection rounds and records every
    layer's kept fraction per round (`unziplora.column_probe`).

    Returns the run record (`model`, the base model's hub id or folder, is recorded for generation; `provenance`,
    e.g. the workflow's settings and code hash, joins it as given). The
    pipeline's UNet is trained in place and restored (adapters, hooks and processors removed) before returning,
    also on failure. The base model (`base`) trains nothing and writes only `run.json`.
    """
    spec = config.method_spec()
    device = resolve_device(config.device)
    if getattr(pipe.unet, "peft_config", None):
        raise ValueError("the pipeline's UNet already carries LoRA adapters; pass a pipeline without LoRAs")
    pil = load_image(image) if isinstance(image, str | Path) else image
    texts = training_prompts(spec, prompts)
    extra = {"prompts": asdict(prompts), "training_prompts": texts, "image": _describe_image(image), "model": model}
    extra |= provenance or {}
    if not spec.trains:
        return _base_record(spec, config, device, extra, Path(out_dir))
    t0 = time.perf_counter()
    torch.manual_seed(config.seed)
    cond = encode_conditioning(pipe, image_tensor(pil, config.resolution), texts, config.resolution, device)
    extra["encode_s"] = time.perf_counter() - t0
    return fit(pipe.unet, pipe.scheduler.config, cond, config, out_dir, extra, probe_rounds=probe_rounds)


def fit(
    unet: torch.nn.Module,
    scheduler_config: dict,
    cond: Conditioning,
    config: TrainConfig,
    out_dir: str | Path | None,
    extra: dict | None = None,
    spec: MethodSpec | None = None,
    probe_rounds: int | None = None,
) -> dict:
    """The training run(s) of `config.method` on cached conditioning; writes the files when `out_dir` is given.

    Each run draws from its own generator seeded with `config.seed`, so each of DreamBooth-LoRA's two runs is the
    run a single-LoRA DreamBooth script would make. `extra` (prompts, image) joins the run record. `spec` trains a
    method that is not in the registry (e.g. the toy world's one-block probe) instead of `config.method`'s.
    """
    spec = spec or config.method_spec()
    if not spec.trains:
        raise ValueError(f"method {spec.key!r} trains nothing; use `train` for its record, or pick a trained method")
    if probe_rounds is not None and (out_dir is not None or not spec.column_separation):
        raise ValueError(f"a column probe writes no LoRA (out_dir None) and needs a column method, not {spec.key!r}")
    extra = dict(extra or {})
    device = resolve_device(config.device)
    bf16 = config.mixed_precision == "bf16" or (config.mixed_precision == "auto" and device.type == "cuda")
    checkpointing = config.gradient_checkpointing == "on" or (
        config.gradient_checkpointing == "auto" and device.type == "cuda"
    )
    if getattr(unet, "peft_config", None):
        raise ValueError("the UNet already carries LoRA adapters; pass one without LoRAs")
    check_block_rule(spec, [n for n, _ in unet.named_modules()])
    t0 = time.perf_counter()
    original_processors = unet.attn_processors
    original_placement = (unet.device, unet.dtype)
    unet.requires_grad_(False)
    weight_dtype = torch.bfloat16 if bf16 else torch.float32
    if unet.device != device or unet.dtype != weight_dtype:
        unet.to(device, dtype=weight_dtype)
    states: dict[str, dict[str, torch.Tensor]] = {}
    runs, losses, step_s, columns_record = [], [], [], None
    try:
        for adapters, prompt_key in run_plan(spec):
            generator = torch.Generator().manual_seed(config.seed)  # every random draw of a run comes from here
            columns = None
            try:
                add_adapters(unet, adapters, config.lora.rank, spec.target_blocks, config.lora.init, generator)
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
                        blocks=spec.block_rule(),
                        options=config.columns,
                        stop_after=probe_rounds,
                    )
                if checkpointing:
                    unet.enable_gradient_checkpointing()
                unet.train()
                run_cond = cond.to(device, unet.dtype)
                run_losses, run_steps = _loop(
                    scheduler_config,
                    unet,
                    run_cond,
                    prompt_key,
                    adapters,
                    spec,
                    config,
                    columns,
                    device,
                    bf16,
                    generator,
                )
                states.update(_state_dicts(unet, spec, adapters, columns))
                columns_record = _column_record(columns, config) if columns is not None else columns_record
                runs.append(
                    {
                        "adapters": list(adapters),
                        "prompt": prompt_key,
                        "train_s": sum(run_steps),
                        "modules": _count_modules(unet, adapters[0]),
                        "loss": loss_summary(run_losses),
                    }
                )
                losses += run_losses
                step_s += run_steps
            finally:
                _strip(unet, columns, original_processors, checkpointing)
        train_s = sum(step_s)
        record = {
            "method": spec.key,
            "method_spec": asdict(spec),
            "config": config.to_dict(column_separation=spec.column_separation),
            "seed": config.seed,
            "blocks": list(spec.target_blocks) or "all attention modules",
            "block_rule": {k: list(v) for k, v in asdict(spec.block_rule()).items()} if spec.block_rule() else {},
            "device": {"type": device.type, "name": device_name(device)},
            "precision": "bf16 autocast, fp32 LoRA" if bf16 else "fp32",
            "gradient_checkpointing": checkpointing,
            "versions": versions(),
            "timing": {
                "encode_s": extra.pop("encode_s", 0.0),
                "train_s": train_s,
                "s_per_step": train_s / len(step_s),
                "step_s": step_s,
                "total_s": time.perf_counter() - t0,
            },
            # Per-image cost: DreamBooth-LoRA pays for two runs of `steps`, the other methods for one.
            "cost": {
                "runs_per_image": len(runs),
                "steps_per_run": config.steps,
                "steps_per_image": len(step_s),
                "train_s_per_image": train_s,
            },
            "runs": runs,
            "peak_memory": peak_memory(device),
            "loss": loss_summary(losses),
            "lora": {
                "rank": config.lora.rank,
                "alpha": config.lora.rank,
                "init": config.lora.init,
                "modules_per_lora": runs[0]["modules"],
                "modules_per_file": {name: len(st) // 2 for name, st in states.items() if name != "mergers"},
            },
            "columns": columns_record,
            **extra,
        }
        if out_dir is not None:
            with staged_outputs(Path(out_dir)) as stage:
                record["files"] = _save(stage, states)
                write_json(stage / "run.json", record)
        return record
    finally:
        unet.requires_grad_(False)
        unet.eval()
        if (unet.device, unet.dtype) != original_placement:
            unet.to(*original_placement)


def _base_record(spec: MethodSpec, config: TrainConfig, device: torch.device, extra: dict, out_dir: Path) -> dict:
    """The base model's run record: nothing trained, no LoRA files, zero training cost."""
    record = {
        "method": spec.key,
        "method_spec": asdict(spec),
        # Only what applies: nothing is trained, so no training setting (steps, lr, rank...) is recorded as if it had.
        "config": {"method": config.method, "seed": config.seed, "device": config.device},
        "seed": config.seed,
        "device": {"type": device.type, "name": device_name(device)},
        "versions": versions(),
        "cost": {"runs_per_image": 0, "steps_per_run": 0, "steps_per_image": 0, "train_s_per_image": 0.0},
        "files": {},
        **extra,
    }
    with staged_outputs(out_dir) as stage:
        write_json(stage / "run.json", record)
    return record


def _loop(scheduler_config, unet, cond: Conditioning, prompt_key, adapters, spec, config, columns, device, bf16, gen):
    """One run of `config.steps` steps; returns the losses and the wall time of each step."""
    scheduler = DDPMScheduler.from_config(scheduler_config)
    groups = [{"params": lora_parameters(unet, a), "lr": config.lora.lr, "name": f"lora_{a}"} for a in adapters]
    if columns is not None:
        groups.append({"params": columns.parameters(), "lr": config.columns.merger_lr, "name": "mergers"})
    optimizer = _optimizer(groups, config.optimizer)
    trainable = [p for g in groups for p in g["params"]]
    separated = {k: cond.embeds[a] for k, a in SEPARATED_INPUTS.items()} if spec.separate_prompts else None
    added = {"text_embeds": cond.pooled[prompt_key], "time_ids": cond.time_ids}
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    dtype = unet.dtype  # read once: diffusers walks every module to answer it (~14 ms a step on the toy UNet)

    losses, step_s = [], []
    name = spec.key if len(adapters) > 1 or spec.split else f"{spec.key}:{adapters[0]}"
    bar = tqdm(range(config.steps), desc=f"train {name}", disable=not config.progress or None, leave=False)
    for step in bar:
        start = time.perf_counter()
        latents = cond.sample_latents(gen)
        noise = torch.randn(latents.shape, generator=gen)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (1,), generator=gen)
        noisy = scheduler.add_noise(latents, noise, t)
        target = noise if scheduler.config.prediction_type == "epsilon" else scheduler.get_velocity(latents, noise, t)
        with autocast:
            pred = unet(
                noisy.to(device, dtype),
                t.to(device),
                encoder_hidden_states=cond.embeds[prompt_key],
                added_cond_kwargs=added,
                cross_attention_kwargs=separated,
            ).sample
        loss = F.mse_loss(pred.float(), target.to(device).float())
        if columns is not None and columns.masks_on:
            loss = loss + config.columns.orthogonality_weight * columns.orthogonality_loss()
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"training loss became {loss.item()} at step {step}; no LoRA was written — lower the learning "
                f"rates, or train in fp32 (`--device cpu`, or TrainConfig(mixed_precision='no'))"
            )
        loss.backward()
        if columns is not None and columns.after_backward(step) == "select":
            columns.warn_if_few_columns()
        torch.nn.utils.clip_grad_norm_(trainable, config.optimizer.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if columns is not None:
            columns.clamp_()
        losses.append(loss.item())  # .item() waits for the device, so the step time below is complete
        step_s.append(time.perf_counter() - start)
        bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
        if columns is not None and columns.finished:  # a probe of the selection: the rounds it asked for are done
            break
    return losses, step_s


def _optimizer(groups: list[dict], options: OptimizerConfig) -> torch.optim.Optimizer:
    kwargs = dict(betas=options.betas, eps=options.eps, weight_decay=options.weight_decay)
    if options.name == "adamw":
        # foreach: one batched update for all LoRA tensors instead of a Python loop over them (the default on CUDA
        # only); bit-identical to the loop, and 3x faster on a CPU, where the toy world's many small tensors train.
        return torch.optim.AdamW(groups, foreach=True, **kwargs)
    if options.name == "adamw8bit":
        try:
            import bitsandbytes as bnb
        except ImportError:
            raise ValueError("optimizer 'adamw8bit' needs bitsandbytes: pip install '.[bnb]' (CUDA only)") from None
        return bnb.optim.AdamW8bit(groups, **kwargs)
    raise ValueError(f"unknown optimizer.name {options.name!r}; choose 'adamw' or 'adamw8bit'")


def _state_dicts(unet, spec: MethodSpec, adapters, columns: ColumnSeparation | None) -> dict[str, dict]:
    """Output file name → LoRA state dict for the adapters of one run.

    Plain files have the masks baked in; with columns also `<adapter>_merged` (masks and mergers baked in).
    All masks count as on when saving, as in the official code. B-LoRA's one LoRA is cut by block.
    """
    out = {}
    variants = [("", False)] if columns is None else [("", False), ("_merged", True)]
    for adapter in adapters:
        for suffix, with_merger in variants:
            gate = None
            if columns is not None:
                gate = lambda n, a=adapter, m=with_merger: columns.gate(n, a, masks_on=True, merger=m)  # noqa: E731
            state = adapter_state_dict(unet, adapter, gate)
            if spec.split:
                out.update(split_by_block(state, spec.split))
            else:
                out[f"{adapter}{suffix}"] = state
    if columns is not None:
        tensors = {}
        for (name, adapter), st in columns.states.items():
            tensors[f"{adapter}.{name}.merger"] = st.merger.detach().cpu().clone()
            tensors[f"{adapter}.{name}.mask"] = st.mask.detach().cpu().clone()
        out["mergers"] = tensors
    return out


def _save(stage: Path, states: dict[str, dict]) -> dict[str, str]:
    """Write every state dict into `stage`: LoRA files, and `mergers.safetensors` for column methods."""
    files = {}
    for name, state in states.items():
        path = stage / f"{name}.safetensors"
        if name == "mergers":
            save_tensors(path, state, {"format": "pt"})
        else:
            save_lora(path, state)
        files[name] = path.name
    return files


def _count_modules(unet, adapter: str) -> int:
    return sum(1 for layer in lora_layers(unet).values() if adapter in layer.lora_A)


def _column_record(columns: ColumnSeparation | None, config: TrainConfig) -> dict | None:
    if columns is None:
        return None
    return {
        "ratio_per_round": config.columns.ratio,
        "rounds": columns.history,
        "final_mask_fraction": columns.mask_fractions(),
        "period_steps": columns.period,
        "tie_break": config.columns.tie_break,
        # Units of the threshold: |cone| of true gradients × cone_grad_scale > cone_threshold. No GradScaler
        # runs here (bf16/fp32), so the scale in use is this fixed emulation of fp16's initial 2**16.
        "cone_threshold": config.columns.cone_threshold,
        "cone_grad_scale": config.columns.cone_grad_scale,
        "grad_scaler": None,
    }


def _describe_image(image) -> dict:
    if isinstance(image, str | Path):
        return {"path": str(image), "sha256": hashlib.sha256(Path(image).read_bytes()).hexdigest()}
    return {"path": None, "size": list(image.size), "mode": image.mode}


def _strip(unet, columns, processors, checkpointing: bool) -> None:
    """Remove one run's hooks, adapters, processors and checkpointing, leaving the base UNet as it was."""
    if columns is not None:
        columns.remove_hooks()
    if getattr(unet, "peft_config", None):
        unet.unload_lora()  # removes the peft wrappers, leaving the base linears as they were
    unet.set_attn_processor(dict(processors))  # diffusers pops entries from the dict it is given
    if checkpointing:
        unet.disable_gradient_checkpointing()
