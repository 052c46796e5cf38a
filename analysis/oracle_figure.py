"""The toy world's oracle figure: what each method's LoRAs get right and what they leak, with 95% CIs.

One panel per column of the oracle table (`analysis.oracle.oracle_table`): the content LoRA's shape fidelity and
style leakage, the style LoRA's style fidelity and content leakage, and the combined images' joint fidelity with one
bar per combination mode; a dashed line marks each column's image-blind floor (the base model's value). Leakage is
drawn for the prompts that leave the leaked factor free (no style named; no shape named where a preset sampled such
prompts, else another shape named), the kind that can show leakage (`analysis.oracle`). Saved like every figure of
`analysis.figures` (PNG + PDF, atomic, byte-reproducible).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from analysis.figures import error_bars, method_label, new_figure, shared_legend
from plumbing.figures import RC, save_figure

#: (oracle table columns, the first with an estimate drawn; panel title), in the toy reading's column order.
PANELS = (
    (("content_fidelity",), "content LoRA: shape right"),
    (("style_leakage_unstyled",), "content LoRA: style leaked\n(prompt names no style)"),
    (("style_fidelity",), "style LoRA: style right"),
    (("content_leakage_unshaped", "content_leakage_other_shape"), "style LoRA: shape leaked\n(prompt names {})"),
    (("joint_fidelity",), "combined: both right"),
)
SHAPE_NAMED = {"content_leakage_unshaped": "no shape", "content_leakage_other_shape": "another shape"}
COLOURS = ("#4c78a8", "#f58518", "#54a24b")  # per combination mode (the decomposition panels use the first)
LEAK = "#e45756"  # leakage panels: the fraction that should be low


def oracle_bars(oracle: pd.DataFrame, out_stem: Path, title: str | None = None) -> tuple[Path, Path]:
    """Bar chart of an oracle table (one row per method and combination mode): one panel per column, 95% CIs.

    The decomposition columns do not depend on the combination mode, so they are drawn once, from the first mode's
    rows; the joint fidelity gets one bar per mode. Methods keep the table's order, top to bottom.
    """
    needed = ["method", "mode"] + [f"{columns[-1]}_mean" for columns, _ in PANELS]
    missing = [c for c in needed if c not in oracle.columns]
    if missing or oracle.empty:
        raise ValueError(f"not an oracle table (missing {', '.join(missing) or 'rows'}): pass tables/oracle.csv")
    methods = list(dict.fromkeys(oracle["method"]))
    modes = list(dict.fromkeys(oracle["mode"]))
    by_mode = {
        m: oracle[oracle["mode"] == m].drop_duplicates("method").set_index("method").reindex(methods) for m in modes
    }
    first = by_mode[modes[0]]
    labels = [method_label(m, first["label"].get(m) if "label" in first else None) for m in methods]
    y = np.arange(len(methods))
    with matplotlib.rc_context(RC):
        fig = new_figure(2.2 * len(PANELS) + 1.3, 0.3 * len(methods) + 1.4)
        axes = np.atleast_1d(fig.subplots(1, len(PANELS), sharey=True))
        for ax, (columns, name) in zip(axes, PANELS, strict=True):
            drawn = [c for c in columns if f"{c}_mean" in oracle and oracle[f"{c}_mean"].notna().any()]
            column = (drawn or columns[-1:])[0]
            name = name.format(SHAPE_NAMED.get(column, ""))
            shown = modes if column == "joint_fidelity" else modes[:1]
            height = 0.7 / len(shown)
            for k, mode in enumerate(shown):
                offset = (k - (len(shown) - 1) / 2) * height  # bars of one method side by side around its tick
                mean, below, above = error_bars(by_mode[mode], column)
                colour = LEAK if "leakage" in column else COLOURS[modes.index(mode) % len(COLOURS)]
                label = f"{mode} mode (95% CI)" if column == "joint_fidelity" else None
                ax.barh(y + offset, np.nan_to_num(mean), height=height, color=colour, label=label)
                ax.errorbar(
                    mean, y + offset, xerr=[below, above], fmt="none", ecolor="black", elinewidth=0.8, capsize=2
                )
            floor = first[f"{column}_floor"].dropna() if f"{column}_floor" in first else pd.Series(dtype=float)
            if len(floor):
                floor_label = "floor: base model" if ax is axes[0] else None
                ax.axvline(floor.iloc[0], color="black", ls="--", lw=0.8, label=floor_label)
            ax.set_title(name)
            ax.set_xlim(0, 1)
            ax.set_xlabel("fraction of images")
            ax.grid(axis="x", lw=0.4, alpha=0.5)
        axes[0].set_yticks(y, labels)
        axes[0].invert_yaxis()  # shared y: the table's first row on top in every panel
        if title:
            fig.suptitle(title)
        shared_legend(fig, axes, ncols=len(modes))
        return save_figure(fig, out_stem, dpi=150)
