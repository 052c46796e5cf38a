"""The toy world's oracle table (issue 12): what the generated images show, read by the shape and style oracles,
as fractions with bootstrap CIs over input images. It needs the scores `shape_right` and `style_right` (1 when the
oracle's most likely class for a generated image is its class for the reference, metrics.registry).

Columns, per method (and, for combined outputs, per combination mode):
- content-only outputs: content fidelity = P(shape right), style leakage = P(style right);
- style-only outputs: style fidelity = P(style right), content leakage = P(shape right);
- combined outputs: joint fidelity = P(both right); cross-image recombination = P(shape of A and style of B).
A leakage column skips prompts that name the input's own other factor (e.g. "A sks shape in checker style" for a
checker image): there, showing the input's style is what the prompt asked for, not leakage.
"""

from __future__ import annotations

import math

import pandas as pd

from analysis.stats import ITEM_KEYS, BootstrapConfig, NoData, cluster_mean, train_seed_spread
from unziplora.methods import METHODS

ORACLE_METRICS = ("shape_right", "style_right")
#: column → (task, kind, score): "both" is the product of the two oracle scores of one generated image.
COLUMNS = {
    "content_fidelity": ("decomposition", "content", "shape_right"),
    "style_leakage": ("decomposition", "content", "style_right"),
    "style_fidelity": ("decomposition", "style", "style_right"),
    "content_leakage": ("decomposition", "style", "shape_right"),
    "joint_fidelity": ("decomposition", "combined", "both"),
    "recombination": ("recombination", "combined", "both"),
}
#: Which true factor a leakage column's prompts must not name.
LEAKAGE_FACTOR = {"style_leakage": "style", "content_leakage": "shape"}
STATS = ("mean", "lo", "hi", "n_images", "seed_sd")


def has_oracle_scores(frame: pd.DataFrame) -> bool:
    """Whether the score frame holds both oracle scores (the toy world's presets)."""
    return set(ORACLE_METRICS) <= set(frame["metric"].unique())


def oracle_items(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per generated image: its shape_right, style_right and both (= their product) as columns."""
    keys = ["method", "task", "content_image", "style_image", *ITEM_KEYS]
    rows = frame[frame["metric"].isin(ORACLE_METRICS)]
    extra = ["prompt"] if "prompt" in rows.columns else []
    wide = rows.pivot_table(index=keys + extra, columns="metric", values="value", aggfunc="first").reset_index()
    missing = wide[list(ORACLE_METRICS)].isna().any(axis=1)
    if missing.any():
        raise ValueError(f"{int(missing.sum())} generated images have only one of {ORACLE_METRICS}; score both")
    wide["both"] = wide["shape_right"] * wide["style_right"]
    return wide


def names_factor(prompt: str, truth: dict[str, str], factor: str) -> bool:
    """Whether `prompt` names the input's true `factor` ("shape" or "style") as a word."""
    return truth.get(factor, "") in prompt.replace(",", " ").split()


def _cell(items: pd.DataFrame, score: str, config: BootstrapConfig) -> dict:
    """Mean, CI, image count and training-seed spread of `score` over `items` (NaN and 0 images when empty)."""
    rows = items.rename(columns={score: "value"})
    try:
        est = cluster_mean(rows, config)
    except NoData:
        return {"mean": math.nan, "lo": math.nan, "hi": math.nan, "n_images": 0, "seed_sd": math.nan}
    return {"mean": est.mean, "lo": est.lo, "hi": est.hi, "n_images": est.n_images,
            "seed_sd": train_seed_spread(rows).sd}  # fmt: skip


def oracle_table(
    frame: pd.DataFrame, truth: dict[str, dict[str, str]] | None = None, config: BootstrapConfig | None = None
) -> tuple[list[dict], list[str]]:
    """Rows (one per method and combination mode) and column names of the oracle table, from a validated score
    frame. `truth` maps an input image id to its {"shape", "style"} names (the toy sheet's true_shape/true_style),
    for the leakage columns' prompt filter; without it no prompt is skipped."""
    config, truth = config or BootstrapConfig(), truth or {}
    items = oracle_items(frame)
    header = ["method", "label", "mode"] + [f"{c}_{s}" for c in COLUMNS for s in STATS] + ["n_train_seeds"]
    rows = []
    present = [k for k in METHODS if k in set(items["method"])]
    for method in sorted(present, key=lambda k: k == "base"):
        mine = items[items["method"] == method]
        combined_modes = sorted(mine.loc[mine["kind"] == "combined", "mode"].unique(), key=lambda m: m != "official")
        for mode in combined_modes or ["-"]:
            row = {"method": method, "label": METHODS[method].label, "mode": mode}
            for column, (task, kind, score) in COLUMNS.items():
                cell = mine[(mine["task"] == task) & (mine["kind"] == kind)]
                if kind == "combined":
                    cell = cell[cell["mode"] == mode]
                if column in LEAKAGE_FACTOR and "prompt" in cell.columns and not cell.empty:
                    factor = LEAKAGE_FACTOR[column]
                    named = cell.apply(lambda r, f=factor: names_factor(r["prompt"], truth.get(r["image_id"], {}), f),
                                       axis=1)  # fmt: skip
                    cell = cell[~named.astype(bool)]
                row |= {f"{column}_{s}": v for s, v in _cell(cell, score, config).items()}
            row["n_train_seeds"] = int(mine["train_seed"].nunique())
            rows.append(row)
    return rows, header
