"""Strict loading, shared by every model family: build an architecture without weights, then accept a weights
file only when it holds exactly that architecture's keys and shapes."""

from __future__ import annotations

import logging

from torch import nn

from metrics.errors import MetricsError


def create_clip(arch: str, device: str = "cpu") -> nn.Module:
    """An open_clip model of architecture `arch` without weights (they are loaded strictly afterwards); open_clip's
    "initialized randomly" warning on the root logger is muted, since that is intended here."""
    import open_clip

    root = logging.getLogger()
    was = root.disabled
    root.disabled = True
    try:
        return open_clip.create_model(arch, pretrained=None, device=device)
    finally:
        root.disabled = was


def check_keys(shapes: dict[str, tuple], expected: dict[str, tuple], source: str) -> None:
    """Raise a one-line `MetricsError` unless `shapes` has exactly the `expected` keys and shapes."""
    missing = sorted(set(expected) - set(shapes))
    extra = sorted(set(shapes) - set(expected))
    wrong = sorted(k for k in set(expected) & set(shapes) if tuple(shapes[k]) != tuple(expected[k]))
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s) (e.g. {', '.join(missing[:3])})")
    if extra:
        problems.append(f"{len(extra)} unexpected key(s) (e.g. {', '.join(extra[:3])})")
    if wrong:
        k = wrong[0]
        problems.append(f"{len(wrong)} shape mismatch(es) (e.g. {k}: {tuple(shapes[k])} != {tuple(expected[k])})")
    if problems:
        raise MetricsError(
            f"weights {source} do not match the expected architecture: {'; '.join(problems)}; "
            "use the released file for this model (see `python -m metrics list`)"
        )
