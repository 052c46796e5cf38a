"""What the column probe measured (`unziplora.column_probe`): the fraction of each block group's columns the
selection keeps after each round, per run and over runs, and a figure of it.

A run is one (method, image, training seed). Its kept fraction of a group is columns kept / columns over the group's
layers (what `ColumnSeparation.mask_fractions` reports). Over runs: mean, min and max, and the nominal fraction the
rule aims at (round × `columns.ratio`), so the figure shows how far the faithful selection falls short of it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from analysis.figures import method_label, new_figure, shared_legend
from plumbing.figures import RC, save_figure

RUN_KEYS = ["method", "image", "train_seed"]


def kept_per_run(layers: pd.DataFrame) -> pd.DataFrame:
    """Per run, round, block group and LoRA: columns kept, columns, and their ratio `kept_fraction`, from the probe's
    per-layer rows (columns method, image, train_seed, round, group, adapter, kept, columns)."""
    keys = [*RUN_KEYS, "round", "group", "adapter"]
    out = layers.groupby(keys, sort=True)[["kept", "columns"]].sum().reset_index()
    out["kept_fraction"] = out["kept"] / out["columns"]
    return out


def kept_summary(per_run: pd.DataFrame, ratio: dict[str, float]) -> pd.DataFrame:
    """Per method, round, group and LoRA: mean, min and max of the runs' kept fractions, the run count, and the nominal
    fraction round × the method's `columns.ratio` (`ratio`: method → per-round ratio)."""
    keys = ["method", "round", "group", "adapter"]
    out = per_run.groupby(keys, sort=True)["kept_fraction"].agg(["mean", "min", "max", "count"]).reset_index()
    out = out.rename(columns={"count": "n_runs"})
    out["nominal"] = out["round"] * out["method"].map(ratio)
    return out


def kept_figure(summary: pd.DataFrame, out_stem: Path, title: str) -> tuple[Path, Path]:
    """The shared blocks' kept fraction after each round (where both LoRAs are column-restricted), one panel per LoRA,
    one line per method (mean over runs, band: min–max), the nominal fraction dashed. PNG + PDF."""
    shared = summary[summary["group"] == "shared"]
    if shared.empty:
        raise ValueError("no shared-block rows in the probe summary: probe a column method")
    methods = list(dict.fromkeys(shared["method"]))
    with matplotlib.rc_context(RC):
        fig = new_figure(8.5, 3.4)
        axes = np.atleast_1d(fig.subplots(1, 2, sharey=True))
        colours = matplotlib.colormaps["tab10"]
        for ax, adapter in zip(axes, ("content", "style"), strict=True):
            for k, method in enumerate(methods):
                rows = shared[(shared["method"] == method) & (shared["adapter"] == adapter)].sort_values("round")
                colour = colours(k % 10)
                name = f"{method_label(method)} (mean of {int(rows['n_runs'].max())} runs; band: min–max)"
                ax.plot(rows["round"], rows["mean"], marker="o", color=colour, label=name)
                ax.fill_between(rows["round"], rows["min"], rows["max"], color=colour, alpha=0.2, lw=0)
                ax.plot(rows["round"], rows["nominal"], ls="--", color=colour, lw=0.8, label=f"{method}: nominal")
            ax.set_title(f"{adapter} LoRA, shared blocks")
            ax.set_xlabel("selection round")
            ax.set_xticks(sorted(shared["round"].unique()))
            ax.grid(lw=0.4, alpha=0.5)
        axes[0].set_ylabel("fraction of columns kept")
        axes[0].set_ylim(bottom=0)
        fig.suptitle(title)
        shared_legend(fig, axes, ncols=2)
        return save_figure(fig, out_stem, dpi=150)
