"""Pictures of the toy world's instruments: confusion matrices of the oracles (on fresh renders) and of the base
model (requested vs oracle-seen factor on its generations).

    python -m toyworld figures data/toy          # reads oracles/report.json and base_model/pretraining.json
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from plumbing.figures import save_as  # noqa: E402
from toyworld.oracles import FACTORS  # noqa: E402


def confusion_panels(panels: list[tuple[str, tuple[str, ...], list[list[int]]]], out: Path) -> Path:
    """One heat map per (title, classes, counts) panel, rows normalised to the share of each true class."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.4), squeeze=False)
    for ax, (title, classes, counts) in zip(axes[0], panels, strict=True):
        counts = np.asarray(counts, dtype=float)
        rows = counts.sum(axis=1, keepdims=True)
        share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
        ax.imshow(share, vmin=0, vmax=1, cmap="Blues")
        ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
        ax.set_yticks(range(len(classes)), classes, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true / requested")
        ax.set_title(title, fontsize=9)
        for (i, j), value in np.ndenumerate(share):
            if value >= 0.005:
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=5,
                        color="white" if value > 0.5 else "black")  # fmt: skip
    fig.tight_layout()
    save_as(fig, out, dpi=130)
    plt.close(fig)
    return out


def instrument_figures(data_dir: str | Path) -> list[Path]:
    """`oracles_confusion.png` (fresh renders) and `base_model_confusion.png` (seen-pair generations) in `data_dir`."""
    data_dir = Path(data_dir)
    oracles = json.loads((data_dir / "oracles" / "report.json").read_text())["oracles"]
    panels = [(f"{factor} oracle, fresh {kind} (acc {oracles[factor][kind]['accuracy']:.3f})",
               FACTORS[factor], oracles[factor][kind]["confusion"])
              for factor in FACTORS for kind in ("renders", "reconstructions") if kind in oracles[factor]]  # fmt: skip
    written = [confusion_panels(panels, data_dir / "oracles_confusion.png")]
    quality = json.loads((data_dir / "base_model" / "pretraining.json").read_text()).get("quality")
    if quality:
        panels = [(f"base model, {group} pairs: {factor} (right {quality[group][factor]:.2f})",
                   FACTORS[factor], quality[group]["confusion"][factor])
                  for group in ("seen", "held_out") for factor in FACTORS]  # fmt: skip
        written.append(confusion_panels(panels, data_dir / "base_model_confusion.png"))
    return written


def block_figure(table: list[dict], out: Path, title: str = "") -> Path:
    """Shape and style fidelity of each block's probe LoRA (bars) against the bare base model (dashed lines)."""
    rows = [r for r in table if not r["block"].startswith("none")]
    base = next((r for r in table if r["block"].startswith("none")), None)
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(rows) + 2), 4))
    for offset, key, colour in ((-0.2, "shape_fidelity", "tab:blue"), (0.2, "style_fidelity", "tab:orange")):
        ax.bar(x + offset, [r[key] for r in rows], width=0.4, color=colour, label=key.replace("_", " "))
        if base is not None:
            ax.axhline(base[key], color=colour, linestyle="--", linewidth=1)
    ax.set_xticks(x, [r["block"].replace(".attentions.", ".attn.") for r in rows], rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("P(oracle sees the image's factor)")
    ax.set_title(f"one-block LoRA probe ({title}); dashed: base model", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_as(fig, out, dpi=130)
    plt.close(fig)
    return out


def sweep_figure(mean, out: Path, title: str = "", by: str = "rank") -> Path:
    """Fidelity (solid) and leakage (dashed) against training steps, one line per value of `by` (a rank, or a method
    in a step sweep over methods), one panel per LoRA."""
    panels = (
        ("content LoRA", "content_fidelity", "style_leakage"),
        ("style LoRA", "style_fidelity", "content_leakage"),
        ("both LoRAs", "joint_fidelity", None),
    )
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    groups = list(mean.groupby(by, sort=by == "rank"))
    for ax, (name, fidelity, leakage) in zip(axes, panels, strict=True):
        for k, (value, part) in enumerate(groups):
            part = part.sort_values("steps")
            colour = plt.cm.viridis(k / max(1, len(groups) - 1)) if by == "rank" else plt.cm.tab10(k)
            ax.plot(part["steps"], part[fidelity], "o-", color=colour, label=f"rank {value}" if by == "rank" else value)
            if leakage:
                ax.plot(part["steps"], part[leakage], "x--", color=colour)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("training steps")
        ax.set_title(f"{name}: {fidelity.replace('_', ' ')}" + (f" (dashed: {leakage.replace('_', ' ')})" if leakage
                     else ""), fontsize=8)  # fmt: skip
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("P(oracle)")
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_as(fig, out, dpi=130)
    plt.close(fig)
    return out
