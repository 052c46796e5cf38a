"""Column separation (spec §1.3–1.4): per-output-channel masks and mergers on each LoRA, the selection schedule
and the orthogonality loss.

Masks and mergers act on the low-rank path's *output channels* through a forward hook on each `lora_B`, so the
forward never materialises a dense ΔW, and peft's own forward and the prompt-separating processor both see them.
At save time they are baked into `lora_B` rows (`gate`), which keeps the files plain diffusers LoRAs.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass

import torch

from unziplora.blocks import CONTENT_SENSITIVE, STYLE_SENSITIVE, Blocks
from unziplora.config import ColumnConfig
from unziplora.lora.adapters import lora_layers
from unziplora.lora.cone import cone_scores, select_columns

PAIR = ("content", "style")

log = logging.getLogger(__name__)


@dataclass
class ColumnState:
    """One LoRA on one linear layer: its merger (trainable, in [0, 1]) and binary column mask."""

    merger: torch.nn.Parameter
    mask: torch.Tensor
    sparse: bool  # column-restricted here; False in the LoRA's own sensitive blocks (mask all ones)
    group: str


class ColumnSeparation:
    """Masks, mergers and their schedule for a content/style LoRA pair on a peft-wrapped UNet.

    Schedule over T steps in `rounds` periods of P = ceil(T / rounds) steps (spec §1.3), acting after each
    backward pass (`after_backward`): at step ≡ 0 (mod P) masks switch off (all columns train) and mergers do
    not move; at step ≡ 1 the Cone scores of that unmasked step pick new columns, masks switch back on; on all
    other steps mergers learn only where the two masks overlap. Masks only grow.
    `blocks` names block separation's sensitive blocks (default: SDXL's); `options` are the run's column settings.
    """

    def __init__(
        self,
        unet: torch.nn.Module,
        total_steps: int,
        block_separation: bool,
        blocks: Blocks | None = None,
        options: ColumnConfig | None = None,
        stop_after: int | None = None,
    ) -> None:
        blocks = blocks or Blocks(CONTENT_SENSITIVE, STYLE_SENSITIVE)
        options = options or ColumnConfig()
        rounds = options.rounds
        if total_steps < 2 * rounds:
            raise ValueError(
                f"column separation needs at least {2 * rounds} steps for {rounds} selection rounds "
                f"(got {total_steps}); raise steps or lower columns.rounds"
            )
        self.period = math.ceil(total_steps / rounds)
        self.options = options
        self.stop_after = stop_after  # a probe of the selection: stop after this many rounds, record every layer
        self.masks_on = False
        self.history: list[dict] = []
        self.layers = lora_layers(unet)
        self.states: dict[tuple[str, str], ColumnState] = {}
        self._hooks = []
        for name, layer in self.layers.items():
            group = blocks.group(name) if block_separation else "shared"
            for adapter in PAIR:
                out = layer.lora_B[adapter].weight.shape[0]
                device = layer.lora_B[adapter].weight.device
                sparse = group != adapter
                merger = torch.nn.Parameter(torch.ones(out, device=device))
                mask = torch.full((out,), not sparse, dtype=torch.bool, device=device)
                self.states[name, adapter] = ColumnState(merger, mask, sparse, group)
                hook = layer.lora_B[adapter].register_forward_hook(self._hook(name, adapter))
                self._hooks.append(hook)

    # ----------------------------------------------------------------- forward
    def _hook(self, name: str, adapter: str):
        def apply_gate(module, inputs, output):
            return output * self.gate(name, adapter).to(output.dtype)

        return apply_gate

    def gate(self, name: str, adapter: str, masks_on: bool | None = None, merger: bool = True) -> torch.Tensor:
        """The per-output-channel factor of one LoRA: merger ⊙ mask (mask only while masks are on)."""
        st = self.states[name, adapter]
        masks_on = self.masks_on if masks_on is None else masks_on
        g = st.merger if merger else torch.ones_like(st.merger)
        return g * st.mask.to(g.dtype) if masks_on else g

    def parameters(self) -> list[torch.nn.Parameter]:
        """All mergers (one optimizer group)."""
        return [st.merger for st in self.states.values()]

    def orthogonality_loss(self) -> torch.Tensor:
        """mean over layers of mean_j |m_c·M_c·m_s·M_s| (spec §1.3; the official code's mean, not the paper's sum)."""
        per_layer = [(self.gate(n, "content") * self.gate(n, "style")).abs().mean() for n in self.layers]
        return torch.stack(per_layer).mean()

    # ---------------------------------------------------------------- schedule
    def after_backward(self, step: int) -> str | None:
        """Apply the schedule after `step`'s backward pass; returns "probe"/"select" on those steps."""
        phase = step % self.period
        if phase == 0:
            self.masks_on = False
            self._drop_merger_grads()
            return "probe"
        if phase == 1:
            self._drop_merger_grads()
            self.select(step)
            self.masks_on = True
            return "select"
        self._restrict_merger_grads()
        return None

    def _drop_merger_grads(self) -> None:
        for st in self.states.values():
            st.merger.grad = None  # frozen: AdamW skips parameters without a gradient

    def _restrict_merger_grads(self) -> None:
        for name in self.layers:
            c, s = self.states[name, "content"], self.states[name, "style"]
            overlap = (c.mask & s.mask).to(c.merger.dtype)
            for st in (c, s):
                if st.merger.grad is not None:
                    st.merger.grad.mul_(overlap)

    @torch.no_grad()
    def select(self, step: int) -> None:
        """One selection round from the current (unmasked) LoRA gradients; content picks first in shared blocks."""
        for name, layer in self.layers.items():
            for adapter in PAIR:
                st = self.states[name, adapter]
                if not st.sparse:
                    continue
                count, magnitude = self._scores(layer, adapter, st)
                exclude = None
                if adapter == "style" and self.options.content_first and self.states[name, "content"].sparse:
                    exclude = self.states[name, "content"].mask
                new = select_columns(
                    count,
                    self.options.ratio,
                    exclude=exclude,
                    tie_break=magnitude if self.options.tie_break else None,
                    already=st.mask,
                )
                st.mask |= new.to(st.mask.device)
        entry = {"round": len(self.history), "step": step, "mask_fraction": self.mask_fractions()}
        if self.stop_after is not None:
            # "layer:lora" → [block group, columns kept, columns]
            entry["layers"] = {
                f"{n}:{a}": [st.group, int(st.mask.sum()), st.mask.numel()] for (n, a), st in self.states.items()
            }
        self.history.append(entry)

    @property
    def finished(self) -> bool:
        """Whether a probe has seen the rounds it asked for (never, outside a probe)."""
        return self.stop_after is not None and len(self.history) >= self.stop_after

    def _scores(self, layer, adapter: str, st: ColumnState) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = layer.lora_A[adapter].weight, layer.lora_B[adapter].weight
        if a.grad is None or b.grad is None:
            zeros = torch.zeros(b.shape[0])
            return zeros, zeros
        options = self.options
        return cone_scores(a, b, a.grad, b.grad, st.merger, options.cone_threshold, options.cone_grad_scale)

    @torch.no_grad()
    def clamp_(self) -> None:
        """Keep mergers in [0, 1] (after every optimizer step)."""
        for st in self.states.values():
            st.merger.clamp_(0.0, 1.0)

    # ----------------------------------------------------------------- records
    def warn_if_few_columns(self) -> None:
        """The faithful selection drops ties at the threshold and may pick far fewer columns than nominal: say so."""
        fractions = self.history[-1]["mask_fraction"].get("shared", {})
        nominal = self.options.ratio * len(self.history)
        low = {a: f for a, f in fractions.items() if f < 0.5 * nominal}
        if low and not self.options.tie_break:
            log.warning(
                "column selection round %d realised %s of the shared-block columns (nominal %.0f%%): ties at the "
                "threshold were dropped, as in the official code; set columns.tie_break to pick exactly the ratio",
                len(self.history),
                {a: f"{f:.1%}" for a, f in low.items()},
                100 * nominal,
            )

    def mask_fractions(self) -> dict[str, dict[str, float]]:
        """Realised fraction of selected columns, per block group and LoRA."""
        chosen, total = defaultdict(int), defaultdict(int)
        for (_, adapter), st in self.states.items():
            chosen[st.group, adapter] += int(st.mask.sum())
            total[st.group, adapter] += st.mask.numel()
        out: dict[str, dict[str, float]] = defaultdict(dict)
        for (group, adapter), n in total.items():
            out[group][adapter] = chosen[group, adapter] / n
        return dict(out)

    def remove_hooks(self) -> None:
        """Detach the gates from the UNet (e.g. before handing the UNet to a stock pipeline)."""
        for h in self._hooks:
            h.remove()
        self._hooks.clear()
