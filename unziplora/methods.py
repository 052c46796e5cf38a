"""The method registry: each method is a set of switches over the one training loop (`unziplora.train`).

Keys are the workflow's wildcard values (`results/{method}/{image}/...`). No torch import, so that planning a
40-image DAG stays fast. Baselines join this table as further entries.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MethodSpec:
    """What one method trains, as data.

    adapters: LoRAs trained together in one run. `content`/`style` are the names the output files take.
    separate_prompts: prompt separation (spec §1.2): in cross-attention K/V the base weights read the combined
        prompt, each LoRA its own prompt. Off: every LoRA reads the combined prompt.
    column_separation: per-output-channel masks, mergers and the orthogonality loss (spec §1.3).
    block_separation: release the column constraint of one LoRA in its sensitive blocks (spec §1.4).
    target_blocks: module-name prefixes that carry LoRAs; empty = every attention module of the UNet.
    """

    key: str
    label: str
    summary: str
    adapters: tuple[str, ...] = ("content", "style")
    separate_prompts: bool = False
    column_separation: bool = False
    block_separation: bool = False
    target_blocks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.block_separation and not self.column_separation:
            raise ValueError(f"method {self.key!r}: block separation needs column separation (it relaxes masks)")
        if self.separate_prompts and not {"content", "style"} <= set(self.adapters):
            raise ValueError(f"method {self.key!r}: prompt separation needs a 'content' and a 'style' LoRA")


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
        ),
    )
}


def get_method(key: str) -> MethodSpec:
    """The registry entry for `key`, or a ValueError that lists the known keys."""
    try:
        return METHODS[key]
    except KeyError:
        raise ValueError(f"unknown method {key!r}; choose one of: {', '.join(METHODS)}") from None
