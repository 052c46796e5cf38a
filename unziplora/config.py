"""Run configuration as dataclasses: what a training run is, passed explicitly everywhere.

Defaults are the official training script's values (spec §1, §6); every choice the spec marks as an inference [I]
is a field here so that a user can change it and the run record shows it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from unziplora.methods import get_method

#: The placeholder token of the official code (spec §6.1), not DreamBooth's `sks`.
DEFAULT_TOKEN = "monadikos"


@dataclass(frozen=True)
class PromptSet:
    """The three prompts of one image (spec §1.2): combined, content-only and style-only, and the placeholder
    token they use (B-LoRA trains on "A <token>"; generation drops it from style-only prompts)."""

    combined: str
    content: str
    style: str
    token: str = DEFAULT_TOKEN

    @classmethod
    def from_names(cls, content: str, style: str, token: str = DEFAULT_TOKEN) -> PromptSet:
        """The official template: "A <token> <content> in <style> style", "A <token> <content>",
        "A <content> in <style> style" (the style prompt keeps the class noun, as the official code does)."""
        content, style = content.strip(), style.strip()
        if not content or not style:
            raise ValueError("content and style names must be non-empty (e.g. --content cat --style sketch)")
        return cls(
            combined=f"A {token} {content} in {style} style",
            content=f"A {token} {content}",
            style=f"A {content} in {style} style",
            token=token,
        )


#: TrainConfig fields read only by column separation (spec §1.3).
COLUMN_SEPARATION_FIELDS = (
    "merger_lr",
    "column_ratio",
    "column_rounds",
    "cone_threshold",
    "cone_grad_scale",
    "column_tie_break",
    "content_first",
    "orthogonality_weight",
)


def _floats(config) -> None:
    """Float fields as floats (YAML and --config give 65536 for 65536.0): a record then reads the same whatever was
    typed, and a workflow param does not change with it (Snakemake compares params by their repr)."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.type == "float" and isinstance(value, int) and not isinstance(value, bool):
            setattr(config, f.name, float(value))


def _same(value):
    """A setting in comparable form (lists and tuples alike: YAML gives lists)."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


@dataclass
class TrainConfig:
    """One training run. Field defaults follow the official train.sh (spec §1.5, §6.10)."""

    method: str = "unziplora"
    steps: int = 600
    seed: int = 0
    resolution: int = 1024
    rank: int = 64
    # LoRA init [I]: "gaussian_both" = the official layer (A and B ~ N(0, std) with std = 1/rank, so ΔW ≠ 0 at
    # step 0); "peft_gaussian" = A ~ N(0, 1/rank), B = 0 (no-op start, as diffusers' DreamBooth script).
    lora_init: Literal["gaussian_both", "peft_gaussian"] = "gaussian_both"
    lora_lr: float = 5e-5
    merger_lr: float = 5e-3
    weight_decay: float = 1e-4
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    max_grad_norm: float = 1.0
    # The official run uses bitsandbytes' 8-bit AdamW (GPU only, extra `bnb`); plain AdamW is the portable default.
    optimizer: Literal["adamw", "adamw8bit"] = "adamw"
    # Column separation (spec §1.3).
    column_ratio: float = 0.1
    column_rounds: int = 3
    # Cone threshold in the official code's units: gradients scaled by fp16 GradScaler's initial 2**16. We train
    # without a GradScaler, so true gradients are multiplied by `cone_grad_scale` before the threshold applies.
    cone_threshold: float = 1e-5
    cone_grad_scale: float = 65536.0
    # False: the faithful selection (count score, strict threshold, ties dropped; may pick < ratio).
    # True: rank by (count score, summed |cone|) and add exactly floor(ratio * out) new columns per round.
    column_tie_break: bool = False
    content_first: bool = True
    orthogonality_weight: float = 0.5
    # Block rule (methods with one: unziplora's block separation, blora's two blocks): module-name prefixes of the
    # blocks that carry content and style. Empty = the method's own, i.e. SDXL's (unziplora.methods); a base model
    # with other weights sets what a probe measured on it (the toy world: data/toy/block_probe).
    content_blocks: tuple[str, ...] = ()
    style_blocks: tuple[str, ...] = ()
    # Precision and memory: "auto" = bf16 autocast on CUDA (fp32 LoRA parameters), fp32 on CPU.
    mixed_precision: Literal["auto", "no", "bf16"] = "auto"
    gradient_checkpointing: Literal["auto", "on", "off"] = "auto"
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        choices = {
            "lora_init": ("gaussian_both", "peft_gaussian"),
            "optimizer": ("adamw", "adamw8bit"),
            "mixed_precision": ("auto", "no", "bf16"),
            "gradient_checkpointing": ("auto", "on", "off"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        _floats(self)
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.rank < 1:
            raise ValueError(f"rank must be >= 1, got {self.rank}")
        if not 0.0 < self.column_ratio <= 1.0:
            raise ValueError(f"column_ratio must be in (0, 1], got {self.column_ratio}")
        if self.resolution < 8 or self.resolution % 8:
            raise ValueError(f"resolution must be a positive multiple of 8, got {self.resolution}")
        self.adam_betas = tuple(self.adam_betas)
        self.content_blocks, self.style_blocks = tuple(self.content_blocks), tuple(self.style_blocks)
        if self.content_blocks or self.style_blocks:
            self.method_spec()  # a method without a block rule refuses them here, with the methods that have one

    def method_spec(self):
        """The registry entry of `method`, with this config's content/style blocks where they are set."""
        spec = get_method(self.method)
        if self.content_blocks or self.style_blocks:
            spec = spec.with_blocks(self.content_blocks, self.style_blocks)
        return spec

    def to_dict(self, column_separation: bool = True) -> dict:
        """Plain-JSON view of the config, for run records. `column_separation=False` leaves out the options only
        column separation reads (mergers, Cone selection, orthogonality), so a baseline's record shows only
        settings that applied to it."""
        values = dataclasses.asdict(self)
        if not column_separation:
            for name in COLUMN_SEPARATION_FIELDS:
                values.pop(name)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Build from a mapping (YAML/JSON config), rejecting unknown keys with a clear message."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    @classmethod
    def for_method(cls, method: str, **overrides) -> TrainConfig:
        """The config of `method` with its own registry defaults (a baseline's steps, lr, init), then `overrides`,
        then a variant's pins (what the variant is: an override that contradicts one is refused, not ignored).

        Plain `TrainConfig(method=...)` keeps UnZipLoRA's defaults for every method; use this for baselines.
        """
        spec = get_method(method)
        for name, value in spec.pins.items():
            if name in overrides and _same(overrides[name]) != _same(value):
                raise ValueError(f"{method} pins {name} = {value!r}, got {overrides[name]!r}; drop {name} for it "
                                 f"(or run {spec.variant_of!r} with that setting)")  # fmt: skip
        return cls(method=method, **{**spec.defaults, **overrides, **spec.pins})

    def with_overrides(self, **changes) -> TrainConfig:
        """A copy with some fields changed (used to apply a method's own defaults)."""
        return dataclasses.replace(self, **changes)


@dataclass
class SampleConfig:
    """How images are rendered from trained LoRAs. Defaults: the spec's evaluation settings (§2, §4 Q2).

    kind: "content" (content LoRA alone), "style" (style LoRA alone) or "combined" (both).
    mode (combined only): "official" = the official code's path: three prompts through the prompt-separating
        processor, merger-weighted files where the method learned mergers, DDPM scheduler; "addition" = the stock
        pipeline with the plain sum of the two LoRA files, as the paper's text claims; "auto" = official for methods
        trained with prompt separation, addition for the others (the baselines and the joint ablation).
    sampler: "auto" = Euler (the stock SDXL scheduler), except DDPM in official mode (as the official code).
    dtype: UNet/text-encoder precision; "auto" = fp16 on CUDA (the official inference), fp32 on the CPU.
    vae_precision: "fp32" decodes with an fp32 VAE (SDXL's VAE overflows in fp16); "model" uses `dtype`.
    Image i of a call uses seed `seed + i` with its own generator, so a (seed, prompt) pair gives one image whatever
    the batching (up to float rounding: batched matmuls may differ in the last bits, ≤ 1/255 per pixel measured).
    """

    kind: Literal["content", "style", "combined"] = "combined"
    mode: Literal["auto", "official", "addition"] = "auto"
    sampler: Literal["auto", "euler", "ddpm"] = "auto"
    steps: int = 50
    guidance_scale: float = 5.0
    resolution: int = 1024
    num: int = 4
    seed: int = 0
    batch_size: int = 4
    dtype: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    vae_precision: Literal["fp32", "model"] = "fp32"
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        choices = {
            "kind": ("content", "style", "combined"),
            "mode": ("auto", "official", "addition"),
            "sampler": ("auto", "euler", "ddpm"),
            "dtype": ("auto", "fp32", "fp16", "bf16"),
            "vae_precision": ("fp32", "model"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        _floats(self)
        for name in ("steps", "num", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.resolution < 8 or self.resolution % 8:
            raise ValueError(f"resolution must be a positive multiple of 8, got {self.resolution}")

    def seeds(self) -> list[int]:
        """The seed of each image, in order."""
        return [self.seed + i for i in range(self.num)]
