"""Cone saliency scores and column selection (spec §1.3, §6.6): pure tensor functions.

A *column* is one output channel of a linear layer (a row of PyTorch's out×in weight, a row of `lora_B`).
"""

from __future__ import annotations

import torch


def cone_scores(
    a: torch.Tensor,
    b: torch.Tensor,
    grad_a: torch.Tensor,
    grad_b: torch.Tensor,
    merger: torch.Tensor,
    threshold: float,
    grad_scale: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-output-channel Cone scores of one LoRA (A: r×in, B: out×r) from one step's factor gradients.

    ΔW = B·A; its first-order change from the factor gradients is ΔW_eff = (∇B·A + B·∇A) scaled by the merger;
    cone = ΔW ⊙ ΔW_eff. Returns (count score, magnitude): the fraction of input dims with |cone|·grad_scale >
    threshold (the official score), and Σ|cone| per channel (the tie-break key). `grad_scale` converts true
    gradients into the units of the official threshold (fp16 GradScaler's 2**16).
    """
    a, b, grad_a, grad_b = (t.detach().float() for t in (a, b, grad_a, grad_b))
    dense = b @ a  # out×in, one layer at a time, only at selection steps
    effective = (grad_b @ a + b @ grad_a) * merger.detach().float()[:, None]
    cone = dense * effective
    count = (cone.abs() * grad_scale > threshold).float().mean(dim=1)
    return count, cone.abs().sum(dim=1)


def select_columns(
    scores: torch.Tensor,
    ratio: float,
    exclude: torch.Tensor | None = None,
    tie_break: torch.Tensor | None = None,
    already: torch.Tensor | None = None,
) -> torch.Tensor:
    """Boolean mask of the columns chosen in one selection round.

    Faithful mode (`tie_break is None`): k = floor(ratio·out); the threshold is the k-th largest score among
    columns not in `exclude`, and a column is chosen when its score is *strictly greater* — ties at the threshold
    are dropped, so fewer than k (even none) may be chosen, and already-selected columns count towards k.
    Tie-break mode: among columns in neither `exclude` nor `already`, the k best by (score, tie_break) are chosen:
    exactly k new columns, or all that are left.
    """
    out = scores.numel()
    k = int(out * ratio)
    excluded = torch.zeros(out, dtype=torch.bool) if exclude is None else exclude.cpu().bool()
    scores = scores.detach().float().cpu()
    if tie_break is None:
        if k == 0:
            return torch.zeros(out, dtype=torch.bool)
        candidates = scores.masked_fill(excluded, float("-inf"))
        threshold = torch.topk(candidates, k).values.min()
        return candidates > threshold
    blocked = excluded | (torch.zeros_like(excluded) if already is None else already.cpu().bool())
    free = (~blocked).nonzero().flatten()
    # Rank the free columns by score, then by magnitude: a stable sort on the secondary key, then the primary.
    order = torch.argsort(tie_break.detach().float().cpu()[free], descending=True, stable=True)
    order = order[torch.argsort(scores[free][order], descending=True, stable=True)]
    chosen = torch.zeros(out, dtype=torch.bool)
    chosen[free[order[:k]]] = True
    return chosen
