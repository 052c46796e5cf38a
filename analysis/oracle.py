"""The toy world's oracle table: what the generated images show, read by the shape and style oracles, as fractions
with bootstrap CIs over units (`analysis.stats`). It needs the scores `shape_right` and `style_right` (1 when the
oracle's most likely class for a generated image is its class for the reference, metrics.registry).

Columns, per method (and, for combined outputs, per combination mode):
- content-only outputs: content fidelity = P(shape right), style leakage = P(style right);
- style-only outputs: style fidelity = P(style right), content leakage = P(shape right);
- combined outputs: joint fidelity = P(both right); cross-image recombination = P(shape of A and style of B).
A leakage column skips prompts that name the input's own other factor (e.g. "A sks shape in checker style" for a
checker image): there, showing the input's style is what the prompt asked for, not leakage. Leakage is also split by
what the prompt names of that factor, since the two kinds measure different things: a prompt naming another style
("... in solid style") asks the model to override the input's style, one naming none ("A sks shape") leaves it free;
likewise for shapes. A prompt names a factor when it holds one of the sheet's true values of it as a word.
Every column also carries its image-blind floor: the base model's value (`{column}_floor`), which never sees the input.
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
    "style_leakage_unstyled": ("decomposition", "content", "style_right"),
    "style_leakage_other_style": ("decomposition", "content", "style_right"),
    "style_fidelity": ("decomposition", "style", "style_right"),
    "content_leakage": ("decomposition", "style", "shape_right"),
    "content_leakage_unshaped": ("decomposition", "style", "shape_right"),
    "content_leakage_other_shape": ("decomposition", "style", "shape_right"),
    "joint_fidelity": ("decomposition", "combined", "both"),
    "recombination": ("recombination", "combined", "both"),
}
#: Leakage column → (the factor its prompts are read for, the prompt kinds it keeps): "other" = the prompt names
#: another value of the factor, "none" = it names none. A prompt naming the input's own value is never leakage.
LEAKAGE_PROMPTS = {
    "style_leakage": ("style", ("other", "none")),
    "style_leakage_unstyled": ("style", ("none",)),
    "style_leakage_other_style": ("style", ("other",)),
    "content_leakage": ("shape", ("other", "none")),
    "content_leakage_unshaped": ("shape", ("none",)),
    "content_leakage_other_shape": ("shape", ("other",)),
}
STATS = ("mean", "lo", "hi", "n_images", "n_units", "seed_sd", "floor")


def has_oracle_scores(frame: pd.DataFrame) -> bool:
    """Whether the score frame holds both oracle scores (the toy world's presets)."""
    return set(ORACLE_METRICS) <= set(frame["metric"].unique())


def oracle_items(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per generated image: its shape_right, style_right and both (= their product) as columns."""
    keys = ["method", "task", "content_image", "style_image", *ITEM_KEYS]
    rows = frame[frame["metric"].isin(ORACLE_METRICS)]
    extra = [c for c in ("prompt", "unit") if c in rows.columns]  # the prompt's words; the bootstrap's unit
    wide = rows.pivot_table(index=keys + extra, columns="metric", values="value", aggfunc="first").reset_index()
    missing = wide[list(ORACLE_METRICS)].isna().any(axis=1)
    if missing.any():
        raise ValueError(f"{int(missing.sum())} generated images have only one of {ORACLE_METRICS}; score both")
    wide["both"] = wide["shape_right"] * wide["style_right"]
    return wide


def prompt_kind(prompt: str, own: str, vocabulary: set[str]) -> str:
    """What `prompt` names of a factor: "own" (the input's value `own`), "other" (another value of `vocabulary`) or
    "none", reading the prompt's words."""
    words = set(prompt.replace(",", " ").split())
    if own and own in words:
        return "own"
    return "other" if words & vocabulary else "none"


def _cell(items: pd.DataFrame, score: str, config: BootstrapConfig) -> dict:
    """Mean, CI, image and unit counts and training-seed spread of `score` over `items` (NaN and 0 when empty)."""
    rows = items.rename(columns={score: "value"})
    try:
        est = cluster_mean(rows, config)
    except NoData:
        return {"mean": math.nan, "lo": math.nan, "hi": math.nan, "n_images": 0, "n_units": 0, "seed_sd": math.nan}
    return {"mean": est.mean, "lo": est.lo, "hi": est.hi, "n_images": est.n_images, "n_units": est.n_units,
            "seed_sd": train_seed_spread(rows).sd}  # fmt: skip


def oracle_table(
    frame: pd.DataFrame, truth: dict[str, dict[str, str]] | None = None, config: BootstrapConfig | None = None
) -> tuple[list[dict], list[str]]:
    """Rows (one per method and combination mode) and column names of the oracle table, from a validated score
    frame. `truth` maps an input image id to its {"shape", "style"} names (the toy sheet's true_shape/true_style),
    for the leakage columns' prompt kinds; without it no prompt is skipped and the per-kind columns stay empty."""
    config, truth = config or BootstrapConfig(), truth or {}
    items = oracle_items(frame)
    if truth and "prompt" in items.columns:
        for factor in ("shape", "style"):
            vocabulary = {t[factor] for t in truth.values()}
            own = items["image_id"].map(lambda i, f=factor: truth.get(i, {}).get(f, ""))
            items[f"names_{factor}"] = [
                prompt_kind(p, o, vocabulary) for p, o in zip(items["prompt"], own, strict=True)
            ]
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
                if column in LEAKAGE_PROMPTS:
                    factor, kinds = LEAKAGE_PROMPTS[column]
                    if f"names_{factor}" in cell.columns:
                        cell = cell[cell[f"names_{factor}"].isin(kinds)]
                    elif len(kinds) == 1:  # a per-kind column needs the truth to tell the kinds apart
                        cell = cell.iloc[:0]
                row |= {f"{column}_{s}": v for s, v in _cell(cell, score, config).items()}
            row["n_train_seeds"] = int(mine["train_seed"].nunique())
            rows.append(row)
    return _with_floor(rows), header


def _with_floor(rows: list[dict]) -> list[dict]:
    """Each row with every column's image-blind floor: the base model's mean (its row of the same mode, else its
    first), NaN without a base row."""
    base = [r for r in rows if r["method"] == "base"]
    for row in rows:
        floor = next((b for b in base if b["mode"] == row["mode"]), base[0] if base else {})
        row |= {f"{c}_floor": floor.get(f"{c}_mean", math.nan) for c in COLUMNS}
    return rows
