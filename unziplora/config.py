"""Run configuration as dataclasses: what a training run is, passed explicitly everywhere.

Defaults are the official training script's values (spec §1, §6); every choice the spec marks as an inference [I]
is a field here so that a user can change it and the run record shows it.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Literal

from plumbing.mappings import deep_merge, dotted, from_mapping
from unziplora.blocks import Blocks
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


def check_fields(config) -> None:
    """Validate a settings object by its type hints: a Literal field must hold one of its choices, and a float field
    becomes a float (YAML and --config give 65536 for 65536.0: a record then reads the same whatever was typed, and
    a workflow param does not change with it, as Snakemake compares params by their repr)."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value, kind = getattr(config, f.name), hints[f.name]
        if typing.get_origin(kind) is Literal and value not in typing.get_args(kind):
            raise ValueError(f"{f.name} must be one of {typing.get_args(kind)}, got {value!r}")
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            setattr(config, f.name, float(value))


@dataclass
class LoraConfig:
    """The LoRAs trained (spec §1.5): rank (alpha = rank, as the official code), initialisation and learning rate."""

    rank: int = 64
    # Init [I]: "gaussian_both" = the official layer (A and B ~ N(0, std) with std = 1/rank, so ΔW ≠ 0 at step 0);
    # "peft_gaussian" = A ~ N(0, 1/rank), B = 0 (no-op start, as diffusers' DreamBooth script).
    init: Literal["gaussian_both", "peft_gaussian"] = "gaussian_both"
    lr: float = 5e-5

    def __post_init__(self) -> None:
        check_fields(self)
        if self.rank < 1:
            raise ValueError(f"lora.rank must be >= 1, got {self.rank}")


@dataclass
class OptimizerConfig:
    """The optimiser of every trained parameter (spec §1.5, §6.10); the learning rates are the LoRAs' and mergers'."""

    # The official run uses bitsandbytes' 8-bit AdamW (GPU only, extra `bnb`); plain AdamW is the portable default.
    name: Literal["adamw", "adamw8bit"] = "adamw"
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    max_grad_norm: float = 1.0

    def __post_init__(self) -> None:
        check_fields(self)
        self.betas = tuple(float(b) for b in self.betas)


@dataclass
class ColumnConfig:
    """Column separation (spec §1.3): masks chosen by Cone scores, mergers, the orthogonality loss. Read only by the
    methods with column separation (M2, M3); the others' records leave it out."""

    merger_lr: float = 5e-3
    ratio: float = 0.1
    rounds: int = 3
    # Cone threshold in the official code's units: gradients scaled by fp16 GradScaler's initial 2**16. We train
    # without a GradScaler, so true gradients are multiplied by `cone_grad_scale` before the threshold applies.
    cone_threshold: float = 1e-5
    cone_grad_scale: float = 65536.0
    # False: the faithful selection (count score, strict threshold, ties dropped; may pick < ratio).
    # True: rank by (count score, summed |cone|) and add exactly floor(ratio * out) new columns per round.
    tie_break: bool = False
    content_first: bool = True
    orthogonality_weight: float = 0.5

    def __post_init__(self) -> None:
        check_fields(self)
        if not 0.0 < self.ratio <= 1.0:
            raise ValueError(f"columns.ratio must be in (0, 1], got {self.ratio}")
        if self.rounds < 1:
            raise ValueError(f"columns.rounds must be >= 1, got {self.rounds}")


def _same(value):
    """A setting in comparable form (lists and tuples alike: YAML gives lists)."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


#: The nested sections of TrainConfig and their types (a mapping given for one is built into its object).
SECTIONS = {"lora": LoraConfig, "optimizer": OptimizerConfig, "columns": ColumnConfig, "blocks": Blocks}


@dataclass
class TrainConfig:
    """One training run: its own fields (method, steps, seed, resolution, precision, device) and nested sections
    (`lora`, `optimizer`, `columns`, `blocks`). Defaults follow the official train.sh (spec §1.5, §6.10).
    A section may be given as a mapping of some of its fields (`lora={"rank": 4}`); the rest keep their defaults."""

    method: str = "unziplora"
    steps: int = 600
    seed: int = 0
    resolution: int = 1024
    lora: LoraConfig = field(default_factory=LoraConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    columns: ColumnConfig = field(default_factory=ColumnConfig)
    # Block rule (methods with one: unziplora's block separation, blora's two blocks): module-name prefixes of the
    # blocks that carry content and style. Empty = the method's own, i.e. SDXL's (unziplora.methods); a base model
    # with other weights sets what a probe measured on it (the toy world: data/toy/block_probe).
    blocks: Blocks = field(default_factory=Blocks)
    # Precision and memory: "auto" = bf16 autocast on CUDA (fp32 LoRA parameters), fp32 on CPU.
    mixed_precision: Literal["auto", "no", "bf16"] = "auto"
    gradient_checkpointing: Literal["auto", "on", "off"] = "auto"
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        for name, cls in SECTIONS.items():
            setattr(self, name, from_mapping(cls, getattr(self, name), f"train.{name}"))
        check_fields(self)
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.resolution < 8 or self.resolution % 8:
            raise ValueError(f"resolution must be a positive multiple of 8, got {self.resolution}")
        if self.blocks:
            self.method_spec()  # a method without a block rule refuses them here, with the methods that have one

    def method_spec(self):
        """The registry entry of `method`, with this config's content/style blocks where they are set."""
        spec = get_method(self.method)
        return spec.with_blocks(self.blocks) if self.blocks else spec

    def to_dict(self, column_separation: bool = True) -> dict:
        """Plain-JSON view of the config, nested as the class, for run records. `column_separation=False` leaves
        out the `columns` section (mergers, Cone selection, orthogonality), so a baseline's record shows only
        settings that applied to it."""
        values = dataclasses.asdict(self)
        if not column_separation:
            values.pop("columns")
        return values

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Build from a nested mapping (YAML/JSON config), refusing unknown keys at any level with a clear message."""
        return from_mapping(cls, values, "train")

    @classmethod
    def for_method(cls, method: str, **overrides) -> TrainConfig:
        """The config of `method` with its own registry defaults (a baseline's steps, lr, init), then `overrides`
        (nested mappings merge key by key: `lora={"lr": 1e-3}` keeps the method's rank), then a variant's pins (what
        the variant is: an override that contradicts one is refused, not ignored).

        Plain `TrainConfig(method=...)` keeps UnZipLoRA's defaults for every method; use this for baselines.
        """
        spec = get_method(method)
        given = dotted(overrides)
        for name, value in dotted(spec.pins).items():
            if name in given and _same(given[name]) != _same(value):
                raise ValueError(f"{method} pins {name} = {value!r}, got {given[name]!r}; drop {name} for it "
                                 f"(or run {spec.variant_of!r} with that setting)")  # fmt: skip
        values = deep_merge(deep_merge(spec.defaults, overrides), spec.pins)
        return cls.from_dict({**values, "method": method})

    def with_overrides(self, **changes) -> TrainConfig:
        """A copy with some settings changed (nested mappings merge key by key: `lora={"rank": 4}`)."""
        return TrainConfig.from_dict(deep_merge(dataclasses.asdict(self), changes))


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
        check_fields(self)
        for name in ("steps", "num", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.resolution < 8 or self.resolution % 8:
            raise ValueError(f"resolution must be a positive multiple of 8, got {self.resolution}")
        if self.guidance_scale < 0 or self.seed < 0:
            raise ValueError(f"guidance_scale and seed must be >= 0, got {self.guidance_scale} and {self.seed}")

    def seeds(self) -> list[int]:
        """The seed of each image, in order."""
        return [self.seed + i for i in range(self.num)]
