"""Rendering images from trained LoRAs (spec §2): content-only, style-only and combined, from any method's output
folder, and cross-image recombination (the content LoRA of run A with the style LoRA of run B).

Combined images come in two modes (`SampleConfig.mode`): `official`, the official code's path (three prompts, each
LoRA reading its own through the prompt-separating processor, merger-weighted files, DDPM scheduler), and `addition`,
the stock pipeline with the plain sum of the two LoRA files (the paper's claim). Every PNG carries its prompt(s),
seed, method, kind and mode as text metadata; files appear only when the whole call succeeded.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from diffusers import DDPMScheduler, EulerDiscreteScheduler, StableDiffusionXLPipeline
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from tqdm.auto import tqdm

from plumbing.devices import resolve_device
from plumbing.records import staged_outputs, versions, write_json
from unziplora.config import PromptSet, SampleConfig
from unziplora.lora.processor import install_separation
from unziplora.methods import METHODS, MethodSpec, get_method

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class RunFolder:
    """A method's output folder: its `run.json` record and LoRA files."""

    path: Path
    record: dict

    @property
    def spec(self) -> MethodSpec:
        """The registry entry of the method that wrote this folder."""
        return get_method(self.record["method"])

    @property
    def prompts(self) -> PromptSet:
        """The prompts the run was trained with (its content/style names and token)."""
        return PromptSet(**self.record["prompts"])

    def lora_file(self, name: str) -> Path | None:
        """The file `name` (e.g. "content", "style_merged") of this run, or None when the method has none."""
        file = self.record.get("files", {}).get(name)
        return None if file is None else self.path / file


def load_run(path: str | Path) -> RunFolder:
    """Read a method's output folder, with a clear error for anything missing or malformed."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"LoRA folder {path} does not exist; pass a folder written by `unziplora decompose`")
    try:
        record = json.loads((path / "run.json").read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} has no run.json; pass a folder written by `unziplora decompose`") from None
    except (OSError, ValueError) as err:
        raise ValueError(f"{path / 'run.json'} is unreadable ({err}); re-run `unziplora decompose` into it") from None
    if not isinstance(record, dict) or record.get("method") not in METHODS:
        raise ValueError(f"{path / 'run.json'} is not a run record of a known method; re-run `unziplora decompose`")
    prompts, files = record.get("prompts"), record.get("files", {})
    if (
        not isinstance(prompts, dict)
        or set(prompts) != {f.name for f in fields(PromptSet)}
        or not isinstance(files, dict)
    ):
        raise ValueError(f"{path / 'run.json'} has malformed prompts or files; re-run `unziplora decompose` into it")
    run = RunFolder(path, record)
    for name in run.spec.output_files():
        file = run.lora_file(name)
        if file is None or not file.is_file():
            raise FileNotFoundError(f"{path} lacks its {name} LoRA file; the run is incomplete, re-run it")
    return run


def resolve_mode(config: SampleConfig, content_run: RunFolder) -> str:
    """The combined mode in effect: "auto" → official for prompt-separated methods, addition for the others."""
    if config.mode != "auto":
        return config.mode
    return "official" if content_run.spec.separate_prompts else "addition"


def official_prompts(prompt: str, content_run: RunFolder, style_run: RunFolder) -> tuple[str, str]:
    """Content-only and style-only prompts for official mode, derived from the combined `prompt` the way the
    official examples write them: the content prompt drops the style run's style phrase (" in sketch style"), the
    style prompt drops the content run's placeholder token."""
    trained = style_run.prompts
    if not trained.combined.startswith(trained.content):
        raise ValueError(
            f"cannot derive a content-only prompt from {style_run.path}'s prompts; pass --content-prompt and "
            f"--style-prompt"
        )
    phrase = trained.combined[len(trained.content) :]
    if not phrase or phrase not in prompt:
        raise ValueError(
            f"official mode needs a content-only prompt, but --prompt does not contain the style phrase {phrase!r}; "
            f"pass --content-prompt (and --style-prompt), or use --mode addition"
        )
    token = content_run.prompts.token
    content = " ".join(prompt.replace(phrase, "").split())
    style = " ".join(w for w in prompt.split() if w != token)
    return content, style


def generate(
    pipe: StableDiffusionXLPipeline,
    runs: list[RunFolder],
    prompt: str,
    config: SampleConfig,
    out_dir: str | Path,
    content_prompt: str | None = None,
    style_prompt: str | None = None,
    model: str | None = None,
    image_id: str | None = None,
) -> list[Path]:
    """Render `config.num` images of `config.kind` into `out_dir` and return their paths.

    `runs`: one run folder, or two for cross-image recombination (content LoRA of the first, style LoRA of the
    second). `image_id` names the images in their metadata (default: the run folders' names, "a+b" for a
    recombination). The pipeline must carry no LoRA; it is moved to the config's device and dtype, and handed back
    with its own scheduler and attention processors and no adapters.
    """
    if not prompt.strip():
        raise ValueError("the prompt is empty; pass --prompt, e.g. 'A monadikos cat on a beach in sketch style'")
    if not 1 <= len(runs) <= 2:
        raise ValueError(f"pass one or two LoRA folders (content of the first, style of the last), got {len(runs)}")
    if getattr(pipe.unet, "peft_config", None):
        raise ValueError("the pipeline already carries LoRA adapters; pass a pipeline without LoRAs")
    content_run, style_run = runs[0], runs[-1]
    mode = resolve_mode(config, content_run) if config.kind == "combined" else "single"
    sampler = config.sampler if config.sampler != "auto" else ("ddpm" if mode == "official" else "euler")
    device = resolve_device(config.device)
    dtype = (
        DTYPES[config.dtype] if config.dtype != "auto" else (torch.float16 if device.type == "cuda" else torch.float32)
    )
    files = _files(config.kind, mode, content_run, style_run)
    if mode == "official":
        derived = None if content_prompt and style_prompt else official_prompts(prompt, content_run, style_run)
        content_prompt = content_prompt or derived[0]
        style_prompt = style_prompt or derived[1]
    pair = runs if len({r.path for r in runs}) > 1 else runs[:1]
    shown = {"content": [content_run], "style": [style_run]}.get(config.kind, pair)
    meta = {
        # The run folders' names: the workflow's image ids (results/{method}/{image}/); "a+b" for a recombination.
        "image_id": image_id or "+".join(r.path.name for r in shown),
        "prompt": prompt,
        "content_prompt": content_prompt if mode == "official" else None,
        "style_prompt": style_prompt if mode == "official" else None,
        "method": "+".join(dict.fromkeys(r.record["method"] for r in runs)),
        "kind": config.kind,
        "mode": mode,
        "mergers": any(f.name.endswith("_merged.safetensors") for f in files.values() if f is not None),
        "content_run": str(content_run.path) if config.kind != "style" else None,
        "style_run": str(style_run.path) if config.kind != "content" else None,
        "lora_files": {k: str(v) for k, v in files.items() if v is not None},
        "sampler": sampler,
        "steps": config.steps,
        "guidance_scale": config.guidance_scale,
        "resolution": config.resolution,
        "dtype": str(dtype).removeprefix("torch."),
        "vae_precision": config.vae_precision,
        "model": model,
    }
    original_scheduler, original_processors = pipe.scheduler, dict(pipe.unet.attn_processors)
    if (pipe.device, pipe.dtype) != (device, dtype):
        pipe.to(device, dtype)
    try:
        scheduler_cls = DDPMScheduler if sampler == "ddpm" else EulerDiscreteScheduler
        pipe.scheduler = scheduler_cls.from_config(original_scheduler.config)
        for adapter, file in files.items():
            if file is not None:
                try:
                    pipe.load_lora_weights(file.parent, weight_name=file.name, adapter_name=adapter)
                except Exception as err:  # noqa: BLE001 - safetensors/peft raise several types for a bad file
                    raise ValueError(
                        f"cannot load LoRA file {file} ({type(err).__name__}); re-run `unziplora decompose`"
                    ) from None
        loaded = [a for a, f in files.items() if f is not None]
        if loaded:
            pipe.set_adapters(loaded, adapter_weights=[1.0] * len(loaded))
        if mode == "official":
            install_separation(pipe.unet)
        prompts = (prompt, content_prompt, style_prompt)
        return _render(pipe, prompts, mode, config, meta, Path(out_dir), device)
    finally:
        if getattr(pipe.unet, "peft_config", None):
            pipe.unload_lora_weights()
        pipe.unet.set_attn_processor(original_processors)
        pipe.scheduler = original_scheduler


def _files(kind: str, mode: str, content_run: RunFolder, style_run: RunFolder) -> dict[str, Path | None]:
    """Adapter name → LoRA file to load (None: that run has no LoRA, e.g. the base model)."""
    # Official mode uses the merger-weighted files where the method learned mergers; alone, each LoRA is used
    # without its merger, as in the official inference script.
    suffix = "_merged" if mode == "official" else ""
    out = {}
    if kind in ("content", "combined"):
        out["content"] = content_run.lora_file(f"content{suffix}") or content_run.lora_file("content")
    if kind in ("style", "combined"):
        out["style"] = style_run.lora_file(f"style{suffix}") or style_run.lora_file("style")
    return out


@torch.no_grad()
def _render(pipe, prompts, mode: str, config: SampleConfig, meta: dict, out_dir: Path, device) -> list[Path]:
    prompt, content_prompt, style_prompt = prompts
    seeds = config.seeds()
    cfg = config.guidance_scale > 1 and pipe.unet.config.time_cond_proj_dim is None
    if mode == "official":
        pe, npe, ppe, nppe = pipe.encode_prompt(prompt, device=device, do_classifier_free_guidance=cfg)
        given = {
            "content_hidden_states": pipe.encode_prompt(
                content_prompt, device=device, do_classifier_free_guidance=False
            )[0],
            "style_hidden_states": pipe.encode_prompt(style_prompt, device=device, do_classifier_free_guidance=False)[
                0
            ],
        }
    paths = []
    stem = config.kind if mode == "single" else f"{config.kind}-{mode}"
    pipe.set_progress_bar_config(disable=True)
    with staged_outputs(out_dir) as stage:
        bar = tqdm(total=len(seeds), desc=f"generate {stem}", disable=not config.progress or None, leave=False)
        for start in range(0, len(seeds), config.batch_size):
            batch = seeds[start : start + config.batch_size]
            n = len(batch)
            # One generator per image: image i depends on its own seed only, not on the batch it shares.
            kwargs = dict(
                generator=[torch.Generator().manual_seed(s) for s in batch],
                height=config.resolution,
                width=config.resolution,
                num_inference_steps=config.steps,
                guidance_scale=config.guidance_scale,
                output_type="latent",
            )
            if mode == "official":
                # The pipeline runs the UNet on [negative; positive] under classifier-free guidance, so the
                # content/style embeddings get the combined prompt's negative half in front of them.
                sep = {
                    k: torch.cat([npe.repeat(n, 1, 1), v.repeat(n, 1, 1)]) if cfg else v.repeat(n, 1, 1)
                    for k, v in given.items()
                }
                latents = pipe(
                    prompt_embeds=pe.repeat(n, 1, 1),
                    pooled_prompt_embeds=ppe.repeat(n, 1),
                    negative_prompt_embeds=None if npe is None else npe.repeat(n, 1, 1),
                    negative_pooled_prompt_embeds=None if nppe is None else nppe.repeat(n, 1),
                    cross_attention_kwargs=sep,
                    **kwargs,
                ).images
            else:
                latents = pipe(prompt=[prompt] * n, **kwargs).images
            for seed, image in zip(batch, _decode(pipe, latents, config), strict=True):
                path = stage / f"{stem}-s{seed}.png"
                _save_png(image, path, {**meta, "seed": seed})
                paths.append(out_dir / path.name)
            bar.update(n)
        bar.close()
        write_json(stage / "generate.json", {**meta, "seeds": seeds, "config": asdict(config), "versions": versions()})
    return paths


def _decode(pipe, latents: torch.Tensor, config: SampleConfig) -> list[Image.Image]:
    """Latents → PIL images. The VAE decodes in fp32 by default: SDXL's VAE overflows to NaN in fp16."""
    vae = pipe.vae
    original = vae.dtype
    dtype = torch.float32 if config.vae_precision == "fp32" else pipe.unet.dtype
    vae.to(dtype=dtype)
    try:
        latents = latents.to(dtype) / vae.config.scaling_factor
        pixels = vae.decode(latents).sample
    finally:
        vae.to(dtype=original)
    return pipe.image_processor.postprocess(pixels.float(), output_type="pil")


def _save_png(image: Image.Image, path: Path, meta: dict) -> None:
    """PNG with every metadata field as a text chunk, plus all of them as one JSON chunk ("unziplora")."""
    info = PngInfo()
    for key, value in meta.items():
        if value is not None:
            info.add_text(key, value if isinstance(value, str) else json.dumps(value))
    info.add_text("unziplora", json.dumps(meta, sort_keys=True))
    image.save(path, pnginfo=info)
