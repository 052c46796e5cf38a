"""Which attention linears carry LoRAs, and which block group each belongs to (spec §1.1, §1.4).

Everything here works on module *names*, so any UNet with SDXL's architecture (the 2.6 B one or the tiny test
and toy ones) gets the same treatment. No torch import: planning code may use it cheaply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

BlockGroup = Literal["content", "style", "shared"]

#: Projections of every attention module that get a LoRA (self and cross attention alike).
TARGET_PROJECTIONS: tuple[str, ...] = ("to_q", "to_k", "to_v", "to_out.0")

#: B-LoRA's content block and its neighbour: here the *content* LoRA trains all columns, the style LoRA is sparse.
CONTENT_SENSITIVE: tuple[str, ...] = ("up_blocks.0.attentions.0", "up_blocks.0.attentions.2")
#: B-LoRA's style block and the whole of up_blocks.1: here the *style* LoRA trains all columns.
STYLE_SENSITIVE: tuple[str, ...] = ("up_blocks.0.attentions.1", "up_blocks.1.attentions")


@dataclass(frozen=True)
class Blocks:
    """A block rule: the module-name prefixes of the blocks that carry content and of those that carry style.

    The one type for it everywhere: a method's own rule (`MethodSpec.blocks`, SDXL's), a config's change of it
    (`TrainConfig.blocks`; empty = the method's own) and the sensitive blocks column separation relaxes.
    """

    content: tuple[str, ...] = ()
    style: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for side in ("content", "style"):
            value = getattr(self, side)
            object.__setattr__(self, side, (value,) if isinstance(value, str) else tuple(value))  # YAML: lists

    def __bool__(self) -> bool:
        return bool(self.content or self.style)

    def over(self, own: Blocks) -> Blocks:
        """These blocks where set, `own` where not; refuses content and style blocks that overlap."""
        content, style = self.content or own.content, self.style or own.style
        if any(under(c, s) or under(s, c) for c in content for s in style):
            raise ValueError(f"content blocks {list(content)} and style blocks {list(style)} overlap; pick disjoint")
        return Blocks(content, style)

    def group(self, name: str) -> BlockGroup:
        """The block group of module `name` under this rule (`block_group`)."""
        return block_group(name, self.content, self.style)


def under(name: str, prefix: str) -> bool:
    """True when module `name` is `prefix` itself or lies inside it (dot-separated, so `.1` never matches `.10`)."""
    return name == prefix or name.startswith(prefix + ".")


def block_group(
    name: str, content: Iterable[str] = CONTENT_SENSITIVE, style: Iterable[str] = STYLE_SENSITIVE
) -> BlockGroup:
    """Block group of a module name: 'content'-sensitive, 'style'-sensitive, or 'shared' (everything else).
    `content` and `style` are the sensitive blocks' prefixes (default: SDXL's, above); content wins an overlap."""
    if any(under(name, p) for p in content):
        return "content"
    if any(under(name, p) for p in style):
        return "style"
    return "shared"


def is_lora_target(name: str, blocks: Iterable[str] = ()) -> bool:
    """Whether module `name` is an attention projection that gets a LoRA.

    `blocks` restricts the targets to those module-name prefixes (B-LoRA style); empty means the whole UNet.
    """
    parts = name.split(".")
    is_projection = any(name.endswith("." + p) for p in TARGET_PROJECTIONS)
    in_attention = ".attentions." in name and any(p in ("attn1", "attn2") for p in parts)
    if not (is_projection and in_attention):
        return False
    blocks = tuple(blocks)
    return not blocks or any(under(name, b) for b in blocks)


def lora_target_names(module_names: Iterable[str], blocks: Iterable[str] = ()) -> list[str]:
    """The LoRA-target linears among `module_names` (e.g. `[n for n, _ in unet.named_modules()]`), in order."""
    blocks = tuple(blocks)
    return [n for n in module_names if is_lora_target(n, blocks)]


def unmatched_blocks(module_names: Iterable[str], blocks: Iterable[str]) -> list[str]:
    """The prefixes of `blocks` that hold no LoRA-target linear among `module_names` (a misspelt block name)."""
    targets = lora_target_names(module_names)
    return [b for b in blocks if not any(under(n, b) for n in targets)]
