"""The method registry: each method is a set of switches over the one training loop (`unziplora.train`).

Keys are the workflow's wildcard values (`results/{method}/{image}/...`). No torch import, so that planning a
40-image DAG stays fast. The baselines (spec §3) are further entries: DreamBooth-LoRA, B-LoRA and the bare base model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from plumbing.mappings import deep_merge, dotted, undotted
from unziplora.blocks import CONTENT_SENSITIVE, STYLE_SENSITIVE, Blocks

#: B-LoRA's two blocks (spec §3): the content block and the style block of SDXL's first up-block.
BLORA_CONTENT_BLOCK = "up_blocks.0.attentions.0"
BLORA_STYLE_BLOCK = "up_blocks.0.attentions.1"


@dataclass(frozen=True)
class MethodSpec:
    """What one method trains, as data.

    adapters: LoRAs trained together in one run. `content`/`style` are the names the output files take.
    separate_prompts: prompt separation (spec §1.2): in cross-attention K/V the base weights read the combined
        prompt, each LoRA its own prompt. Off: every LoRA reads the combined prompt.
    column_separation: per-output-channel masks, mergers and the orthogonality loss (spec §1.3).
    block_separation: release the column constraint of one LoRA in its sensitive blocks (spec §1.4).
    target_blocks: module-name prefixes that carry LoRAs; empty = every attention module of the UNet.
    independent_runs: one training run per adapter, each on its own prompt (DreamBooth-LoRA: two runs per image).
    prompt: what the UNet's text input reads during training: "combined" (the three-prompt template's combined
        prompt), "own" (each adapter's own prompt: content/style; needs independent runs) or "token" ("A <token>").
    split: output file name → block prefix(es), for one-LoRA methods whose single LoRA is cut into content and style
        files by block (B-LoRA). Empty: each adapter is its own file.
    blocks: block separation's sensitive blocks (module-name prefixes): in the content ones the content LoRA
        trains every column, in the style ones the style LoRA (unziplora.lora.columns).
    defaults: the method's own training settings (TrainConfig's, nested as in it: steps, lora.lr, lora.init),
        applied by `TrainConfig.for_method`, so a baseline runs and records its authors' settings, not UnZipLoRA's.
    variant_of: a variant is another method with one setting pinned, run only when asked for by name (not part of
        "every method"); e.g. UnZipLoRA pinned to SDXL's block names, beside `unziplora` on blocks a preset moved.
        A variant takes its parent's preset settings (`method_settings`), then its pins.
    pins: TrainConfig settings a variant fixes; they win over the method's defaults and every preset setting.
    needs: dotted TrainConfig settings a preset must give the method itself, in its `method_train` entry (a calibrated
        variant's `columns.ratio`): without them it would silently run as another method.
    No adapters at all = the bare base model (no training, no LoRA files).
    """

    key: str
    label: str
    summary: str
    adapters: tuple[str, ...] = ("content", "style")
    separate_prompts: bool = False
    column_separation: bool = False
    block_separation: bool = False
    target_blocks: tuple[str, ...] = ()
    independent_runs: bool = False
    prompt: Literal["combined", "own", "token"] = "combined"
    split: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    blocks: Blocks = Blocks()
    defaults: dict[str, Any] = field(default_factory=dict)
    variant_of: str = ""
    pins: dict[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ()

    @property
    def trains(self) -> bool:
        """False for the bare base model: nothing to train, no LoRA files."""
        return bool(self.adapters)

    @property
    def runs_per_image(self) -> int:
        """Training runs one image costs (DreamBooth-LoRA trains its two LoRAs one after the other)."""
        if not self.trains:
            return 0
        return len(self.adapters) if self.independent_runs else 1

    def output_files(self) -> tuple[str, ...]:
        """Names (without `.safetensors`) of the plain LoRA files a run writes: content and style for all methods."""
        return tuple(self.split) if self.split else self.adapters

    @property
    def uses_blocks(self) -> bool:
        """Whether the method has a block rule (which blocks hold content, which style) that a user may change."""
        return self.block_separation or bool(self.split)

    @property
    def pins_blocks(self) -> bool:
        """Whether this variant fixes its blocks (to SDXL's), so that no setting may move them."""
        return "blocks" in self.pins

    def block_rule(self) -> Blocks:
        """Which blocks hold content and which style; empty (false) for methods without a block rule."""
        if self.split:
            return Blocks(self.split["content"], self.split["style"])
        return self.blocks if self.block_separation else Blocks()

    def with_blocks(self, blocks: Blocks) -> MethodSpec:
        """This method with other content and/or style blocks (an empty side keeps its own): e.g. the blocks a probe
        measured on a base model other than SDXL. B-LoRA trains and splits on them; UnZipLoRA relaxes columns."""
        if not self.uses_blocks:
            users = ", ".join(k for k, m in METHODS.items() if m.uses_blocks and not m.pins_blocks)
            raise ValueError(
                f"method {self.key!r} has no block rule, so content/style blocks do not apply; they apply to: {users}"
            )
        if self.pins_blocks:
            raise ValueError(f"method {self.key!r} is pinned to SDXL's blocks; set the blocks of {self.variant_of!r}")
        new = blocks.over(self.block_rule())
        if self.split:
            return replace(self, target_blocks=(*new.content, *new.style), split={"content": new.content,
                                                                                  "style": new.style})  # fmt: skip
        return replace(self, blocks=new)

    def __post_init__(self) -> None:
        if self.block_separation and not self.column_separation:
            raise ValueError(f"method {self.key!r}: block separation needs column separation (it relaxes masks)")
        if self.block_separation and not (self.blocks.content and self.blocks.style):
            raise ValueError(f"method {self.key!r}: block separation needs content and style blocks")
        if self.separate_prompts and not {"content", "style"} <= set(self.adapters):
            raise ValueError(f"method {self.key!r}: prompt separation needs a 'content' and a 'style' LoRA")
        if (self.prompt == "own") != self.independent_runs:
            raise ValueError(
                f"method {self.key!r}: each adapter reads its own prompt exactly when runs are independent"
            )
        if self.split and len(self.adapters) != 1:
            raise ValueError(f"method {self.key!r}: splitting by block needs exactly one LoRA")
        if self.trains and set(self.output_files()) != {"content", "style"}:
            raise ValueError(f"method {self.key!r}: a trained method must write a 'content' and a 'style' file")


METHODS: dict[str, MethodSpec] = {
    m.key: m
    for m in (
        MethodSpec(
            key="joint",
            label="M0",
            summary="Two LoRAs trained jointly on the combined prompt; no separation (ablation baseline).",
        ),
        MethodSpec(
            key="prompt_sep",
            label="M1",
            summary="M0 + prompt separation: each LoRA reads its own prompt in cross-attention K/V.",
            separate_prompts=True,
        ),
        MethodSpec(
            key="column_sep",
            label="M2",
            summary="M1 + column separation: Cone-selected column masks, mergers and orthogonality loss.",
            separate_prompts=True,
            column_separation=True,
        ),
        MethodSpec(
            key="unziplora",
            label="M3",
            summary="The full method: M2 + block separation (style-/content-sensitive up-blocks).",
            separate_prompts=True,
            column_separation=True,
            block_separation=True,
            blocks=Blocks(CONTENT_SENSITIVE, STYLE_SENSITIVE),
        ),
        MethodSpec(
            key="dreambooth_lora",
            label="DB",
            summary="Baseline: two independent DreamBooth LoRAs (content prompt; style prompt), summed to combine.",
            independent_runs=True,
            prompt="own",
            # ZipLoRA's DreamBooth-LoRA setup (same group, spec §3): rank 64, lr 5e-5, 1000 steps per LoRA, and
            # diffusers' DreamBooth init (A gaussian, B = 0). 1000, not UnZipLoRA's 600: the baseline as published.
            defaults={"steps": 1000, "lora": {"lr": 5e-5, "rank": 64, "init": "peft_gaussian"}},
        ),
        MethodSpec(
            key="blora",
            label="BL",
            summary="Baseline B-LoRA: one LoRA on up_blocks.0.attentions.0/.1 ('A <token>'); .0 = content, .1 = style.",
            adapters=("blora",),
            target_blocks=(BLORA_CONTENT_BLOCK, BLORA_STYLE_BLOCK),
            prompt="token",
            split={"content": BLORA_CONTENT_BLOCK, "style": BLORA_STYLE_BLOCK},
            # As B-LoRA's authors ran it: rank 64, lr 5e-5, 1000 steps; their LoRA layer starts at B = 0.
            defaults={"steps": 1000, "lora": {"lr": 5e-5, "rank": 64, "init": "peft_gaussian"}},
        ),
        MethodSpec(
            key="base",
            label="SDXL",
            summary="Baseline floor: the base model with no LoRA (nothing trained; generation uses the bare model).",
            adapters=(),
        ),
    )
}


def _variant(parent: str, suffix: str, label: str, summary: str, needs: tuple[str, ...] = (), **pins) -> MethodSpec:
    spec = METHODS[parent]
    key, summary = f"{parent}_{suffix}", f"Variant: {spec.label} {summary}"
    return replace(spec, key=key, label=f"{spec.label}-{label}", summary=summary, variant_of=parent, pins=pins,
                   needs=needs)  # fmt: skip


# Variants. The block-rule methods pinned to SDXL's block names: a preset that moves `unziplora`'s and `blora`'s
# blocks to those measured on its base model (the toy world: method_train) runs these beside them, so its tables
# show what the choice of blocks does; on SDXL itself they equal their parents. The column methods with the
# tie-break selection: the faithful selection drops ties at the Cone threshold and may pick few columns or none at
# small ranks (spec §1.3); the tie-break one picks exactly the ratio, so the two side by side show what that costs.
_SDXL_BLOCKS = "pinned to SDXL's block names (a preset's blocks for it do not apply)."
_TIE_BREAK = "with the tie-break column selection (exactly the ratio per round)."
# The calibrated variants: the tie-break selection at the per-round ratio a preset sets for them (method_train), the
# faithful selection's own kept fraction as the column probe measured it on that preset's base model. Beside the
# faithful method (same number of columns, chosen by its rule) and the tie-break one (the nominal ratio), they separate
# how many columns are kept from which (`snakemake --cores all column_probe`; docs: the toy reading).
_CALIBRATED = "with the tie-break selection at the faithful selection's measured kept fraction (the preset's ratio)."
for _spec in (
    _variant("unziplora", "sdxl_blocks", "sdxl", _SDXL_BLOCKS, blocks={"content": [], "style": []}),
    _variant("blora", "sdxl_blocks", "sdxl", _SDXL_BLOCKS, blocks={"content": [], "style": []}),
    _variant("column_sep", "tie_break", "tb", _TIE_BREAK, columns={"tie_break": True}),
    _variant("unziplora", "tie_break", "tb", _TIE_BREAK, columns={"tie_break": True}),
    _variant("column_sep", "calibrated", "cal", _CALIBRATED, ("columns.ratio",), columns={"tie_break": True}),
    _variant("unziplora", "calibrated", "cal", _CALIBRATED, ("columns.ratio",), columns={"tie_break": True}),
):
    METHODS[_spec.key] = _spec


def method_settings(train: dict, per_method: dict[str, dict], key: str) -> dict:
    """The TrainConfig settings a preset gives `key` (nested as in TrainConfig): its `train` for every method, then
    its `method_train` entry (for a variant, the parent's, less the settings the variant pins, then its own), merged
    key by key; `TrainConfig.for_method` applies the pins. A variant's own setting of a pinned one is refused (it
    would be silently ignored)."""
    spec, own = get_method(key), per_method.get(key, {})
    missing = [n for n in spec.needs if n not in dotted(own)]
    if missing:
        raise ValueError(f"{key} needs {', '.join(missing)} set for it: the faithful selection's kept fraction per "
                         f"round, as `snakemake --cores all column_probe` measures it on this base model; e.g. "
                         f"method_train: {{{key}: {{columns: {{ratio: 0.02}}}}}}")  # fmt: skip
    pinned = _pinned(spec)
    clash = sorted(k for k in dotted(own) if pinned(k))
    if clash:
        raise ValueError(f"method_train.{key} sets {', '.join(clash)}, which the variant pins; remove it there (or "
                         f"run {spec.variant_of!r} with that setting)")  # fmt: skip
    inherited = dotted(per_method.get(spec.variant_of, {}) if spec.variant_of else {})
    kept = {k: v for k, v in inherited.items() if not pinned(k)}
    return deep_merge(deep_merge(train, undotted(kept)), own)


def _pinned(spec: MethodSpec):
    """Whether a dotted setting (`blocks.content`, `columns.tie_break`) is one `spec` pins, or lies under one."""
    pins = dotted(spec.pins)
    return lambda key: any(key == p or key.startswith(p + ".") or p.startswith(key + ".") for p in pins)


def standard_methods() -> list[str]:
    """Every method but the variants (what "every method" means: the paper's table), in registry order."""
    return [k for k, m in METHODS.items() if not m.variant_of]


def trained_methods() -> list[str]:
    """Registry keys of the standard methods that train LoRAs (all but the bare base model), in registry order."""
    return [k for k in standard_methods() if METHODS[k].trains]


def get_method(key: str) -> MethodSpec:
    """The registry entry for `key`, or a ValueError that lists the known keys."""
    try:
        return METHODS[key]
    except KeyError:
        raise ValueError(f"unknown method {key!r}; choose one of: {', '.join(METHODS)}") from None
