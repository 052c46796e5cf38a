"""The result tables: from the aggregated score frame (one row per generated image × metric) to CSV + Markdown.

Which rows make which column follows the paper's protocol (spec §4.1): style metrics on the style-only images,
content metrics on the content-only images, CLIP-T on both, all from the decomposition task. Every number is a mean
over units of per-unit means with a bootstrap CI over units (`analysis.stats`: the image, or the sheet column a
preset names, e.g. the toy benchmark's shape–style pair), with the units' count (`n_units`) beside the images'.
Every table carries the same provenance columns; the Markdown renderings (`analysis.markdown`) repeat them (and the
caveats) in a footer.
`analysis.writing` builds them all and writes them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.stats import (
    ITEM_KEYS,
    BootstrapConfig,
    NoData,
    cluster_mean,
    metric_win_rate,
    paired_difference,
    train_seed_spread,
)
from metrics.registry import METRICS
from unziplora.methods import METHODS

SCORE_COLUMNS = (
    "image_id", "content_image", "style_image", "method", "train_seed", "task", "kind", "mode", "prompt_id", "seed",
    "metric", "value", "model", "weights_revision", "caveat",
)  # fmt: skip
REFERENCE_COLUMNS = ("table", "a", "b", "task", "metric", "value", "unit", "provenance", "verified")
TASKS = ("decomposition", "recombination")
KINDS = ("content", "style", "combined")
#: The comparison and ablation columns, in the paper's order, then CLIP-T (then any other metric scored, e.g. the
#: toy world's oracle columns, in registry order).
TABLE_METRICS = ("clip_i", "dino", "csd_style", "csd_content", "clip_t")
#: The workflow's evaluation choices, recorded in every table it writes (docs/workflow.md, "Evaluation choices").
EVALUATION_CHOICES = (
    "reference=the prepared training view (sheet train_file; shorter side to the training resolution, centre crop); "
    "columns=style metrics on style-only images, content metrics on content-only images; "
    "clip_t=prompt with the placeholder token dropped"
)
REFERENCE_METHOD = "unziplora"
ABLATION = ("joint", "prompt_sep", "column_sep", "unziplora")
BASELINES = ("dreambooth_lora", "blora", "base")
ABLATION_TASKS = ("content decomposition", "style decomposition", "recombination")
# Which decomposition images each metric aspect is scored on (spec §4.1).
ASPECT_KINDS = {"style": ("style",), "content": ("content",), "text": ("content", "style")}
WINRATE_KINDS = {
    "decomposition": ("content", "style"),
    "content decomposition": ("content",),
    "style decomposition": ("style",),
    "recombination": ("combined",),
}


@dataclass(frozen=True)
class Provenance:
    """Where the numbers come from: code commit, hash of the settings the inputs were made with, preset name,
    evaluation choices (a short free-text string, e.g. "CLIP ViT-B/32; 4 seeds/prompt"), and per method the hash of
    its own training settings (methods differ on purpose: a baseline's steps and lr), a column of every row that
    names a method. Weights are read from the score frame."""

    commit: str
    config_hash: str
    preset: str
    choices: str
    method_settings: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [f.name for f in fields(self)[:4] if not isinstance(getattr(self, f.name), str)]
        if bad:
            raise ValueError(f"Provenance fields {bad} must be strings (use '' for unknown)")

    def columns(self, weights: str) -> dict[str, str]:
        """The provenance columns every table ends with."""
        return {
            "commit": self.commit,
            "config_hash": self.config_hash,
            "preset": self.preset,
            "weights": weights,
            "choices": self.choices,
        }


def load_reference(path: str | Path) -> pd.DataFrame:
    """Read the paper's reported numbers (data/paper_reference.csv), checking columns and values."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in REFERENCE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; the reference CSV needs {', '.join(REFERENCE_COLUMNS)}")
    values = pd.to_numeric(frame["value"], errors="coerce")
    if not np.isfinite(values).all():
        raise ValueError(f"{path}: non-numeric values in rows {list(frame.index[~np.isfinite(values)])}; fix them")
    frame["value"] = values.astype(float)
    return frame


def validate_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """A checked, typed copy of the score frame, or a ValueError naming the problem and the fix."""
    if not isinstance(scores, pd.DataFrame) or scores.empty:
        raise ValueError("scores: the frame is empty; score the generated images first (python -m metrics)")
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"scores: missing columns {missing}; pass the aggregated score frame with all of them")
    frame = scores.copy()
    frame["caveat"] = frame["caveat"].fillna("").astype(str)
    required = [c for c in SCORE_COLUMNS if c not in ("caveat", "value")]
    blank = [c for c in required if frame[c].isna().any()]
    if blank:
        raise ValueError(f"scores: empty cells in columns {blank}; drop or re-score those rows")
    values = pd.to_numeric(frame["value"], errors="coerce")
    if not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).sum())
        raise ValueError(f"scores: {bad} NaN, infinite or non-numeric values in 'value'; drop or re-score those rows")
    frame["value"] = values.astype(float)
    for col in ("train_seed", "seed"):
        as_num = pd.to_numeric(frame[col], errors="coerce")
        if as_num.isna().any() or (as_num % 1 != 0).any():
            raise ValueError(f"scores: column {col!r} must hold integers; fix the rows that do not")
        frame[col] = as_num.astype("int64")
    for col in set(SCORE_COLUMNS) - {"value", "train_seed", "seed"}:
        frame[col] = frame[col].astype(str)
    for col, known in (("method", tuple(METHODS)), ("metric", tuple(METRICS)), ("task", TASKS), ("kind", KINDS)):
        unknown = sorted(set(frame[col].unique()) - set(known))
        if unknown:
            raise ValueError(f"scores: unknown {col} values {unknown}; use one of {', '.join(known)}")
    key = ["method", "task", "metric", "content_image", "style_image", *ITEM_KEYS]
    if frame.duplicated(key).any():
        raise ValueError(f"scores: {int(frame.duplicated(key).sum())} duplicate rows per item; aggregate once")
    return frame


def weights_string(scores: pd.DataFrame) -> str:
    """The distinct (model, weights_revision) pairs of the frame, as "model@revision; ..." (sorted)."""
    pairs = scores[["model", "weights_revision"]].drop_duplicates().astype(str).itertuples(index=False)
    pairs = sorted(set(pairs))
    return "; ".join(f"{model}@{rev}" for model, rev in pairs)


def _methods(frame: pd.DataFrame, keys=None) -> list[str]:
    """Methods present in `frame` (and in `keys`, when given), in registry order with `base` last (the floor)."""
    present = set(frame["method"].unique())
    order = [k for k in METHODS if k in present and (keys is None or k in keys)]
    return sorted(order, key=lambda k: k == "base")


def _metrics(frame: pd.DataFrame, keys=None) -> list[str]:
    """Metrics present in `frame`: TABLE_METRICS order, then the rest in registry order; restricted to `keys`."""
    order = list(TABLE_METRICS) + [k for k in METRICS if k not in TABLE_METRICS]
    present = set(frame["metric"].unique())
    return [m for m in order if m in present and (keys is None or m in keys)]


def _modes(rows: pd.DataFrame) -> list[str]:
    # "official" (each method's own combination) first, then the rest alphabetically.
    return sorted(rows["mode"].unique(), key=lambda mode: (mode != "official", mode))


def metric_rows(frame: pd.DataFrame, metric: str, kinds: tuple[str, ...] = ("content", "style")) -> pd.DataFrame:
    """The decomposition rows that make `metric`'s column: its aspect's image kinds (within `kinds`) only."""
    allowed = [k for k in ASPECT_KINDS[METRICS[metric].aspect] if k in kinds]
    keep = (frame["task"] == "decomposition") & (frame["metric"] == metric) & frame["kind"].isin(allowed)
    return frame[keep]


def _split(frame: pd.DataFrame, by: str | list[str]) -> dict:
    """{group key: rows}; splitting once and looking up is much cheaper than filtering the big frame per cell."""
    return dict(tuple(frame.groupby(by, sort=False)))


def _paper(reference: pd.DataFrame | None) -> dict[tuple[str, ...], float]:
    """The reference numbers keyed by (table, a, b, task, metric); empty without a reference."""
    if reference is None:
        return {}
    missing = [c for c in REFERENCE_COLUMNS if c not in reference.columns]
    if missing:
        raise ValueError(f"reference: missing columns {missing}; read it with analysis.tables.load_reference")
    keys = zip(*(reference[c].fillna("").astype(str) for c in ("table", "a", "b", "task", "metric")), strict=True)
    return dict(zip(keys, reference["value"].astype(float), strict=True))


def _reference_source(table: pd.DataFrame, reference: pd.DataFrame | None, *names: str) -> pd.DataFrame:
    """Add where the paper's numbers of tables `names` come from (`reference_provenance`), whether they were checked
    against the paper's PDF (`reference_verified`: yes, no, partly; none without rows) and, on per-method tables,
    which methods have paper numbers but no row here (`reference_not_run`: Inspiration Tree is not run here)."""
    rows = pd.DataFrame(columns=REFERENCE_COLUMNS) if reference is None else reference[reference["table"].isin(names)]
    flags = set(rows["verified"].astype(str).str.strip().str.lower())
    table["reference_provenance"] = "; ".join(sorted(set(rows["provenance"].astype(str)))) or "none"
    table["reference_verified"] = (
        "none" if not flags else "yes" if flags == {"yes"} else "partly" if "yes" in flags else "no"
    )
    if "method" in table.columns:
        table["reference_not_run"] = " ".join(sorted(set(rows["a"].astype(str)) - set(table["method"])))
    return table


def _estimate_cells(rows: pd.DataFrame | None, m: str, config: BootstrapConfig) -> dict:
    if rows is None or rows.empty:  # the method has no rows for this metric: n 0, cells left empty
        return {f"{m}_mean": math.nan, f"{m}_lo": math.nan, f"{m}_hi": math.nan, f"{m}_n_images": 0,
                f"{m}_n_units": 0, f"{m}_seed_sd": math.nan}  # fmt: skip
    est, spread = cluster_mean(rows, config), train_seed_spread(rows)
    return {f"{m}_mean": est.mean, f"{m}_lo": est.lo, f"{m}_hi": est.hi, f"{m}_n_images": est.n_images,
            f"{m}_n_units": est.n_units, f"{m}_seed_sd": spread.sd}  # fmt: skip


def _diff_cells(a: pd.DataFrame | None, b: pd.DataFrame | None, name: str, config: BootstrapConfig) -> dict:
    try:
        if a is None or b is None:
            raise NoData("nothing to compare")
        est = paired_difference(a, b, config)
    except NoData:  # no comparison method, or no matched items: n 0, cells left empty
        return {name: math.nan, f"{name}_lo": math.nan, f"{name}_hi": math.nan, f"{name}_n_images": 0,
                f"{name}_n_units": 0}  # fmt: skip
    return {name: est.mean, f"{name}_lo": est.lo, f"{name}_hi": est.hi, f"{name}_n_images": est.n_images,
            f"{name}_n_units": est.n_units}  # fmt: skip


def _method_table(
    frame: pd.DataFrame, methods: list[str], versus: Callable[[int], str | None], step: str, paper, config
) -> tuple[list[dict], list[str]]:
    """Rows and column names of comparison/ablation: per metric the estimate, the paired difference row − the
    method `versus(row index)` names (named `{m}_{step}`) and the paper's value."""
    columns = {m: _split(metric_rows(frame, m), "method") for m in _metrics(frame)}
    stats = ("mean", "lo", "hi", "n_images", "n_units", "seed_sd", step, f"{step}_lo", f"{step}_hi", f"{step}_n_images",
             f"{step}_n_units", "paper")  # fmt: skip
    header = ["method", "label"] + [f"{m}_{s}" for m in columns for s in stats] + ["n_train_seeds"]
    rows = []
    for i, method in enumerate(methods):
        row: dict = {"method": method, "label": METHODS[method].label}
        seeds: set[int] = set()
        for m, by_method in columns.items():
            mine = by_method.get(method)
            seeds |= set() if mine is None else set(mine["train_seed"].unique())
            row |= _estimate_cells(mine, m, config)
            row |= _diff_cells(mine, by_method.get(versus(i)), f"{m}_{step}", config)
            row[f"{m}_paper"] = paper.get(("comparison", method, "", "decomposition", m), math.nan)
        row["n_train_seeds"] = len(seeds)
        rows.append(row)
    return rows, header


def comparison_table(
    scores: pd.DataFrame,
    provenance: Provenance,
    reference: pd.DataFrame | None = None,
    config: BootstrapConfig | None = None,
) -> pd.DataFrame:
    """One row per method (registry order, `base` last): per metric mean, CI, n_images, training-seed SD, the paired
    difference row − unziplora (empty when unziplora is absent) and the paper's value; then the provenance."""
    frame = validate_scores(scores)
    methods = _methods(frame[frame["task"] == "decomposition"])
    versus = REFERENCE_METHOD if REFERENCE_METHOD in methods else None
    rows, header = _method_table(
        frame, methods, lambda i: versus, "diff", _paper(reference), config or BootstrapConfig()
    )
    return _reference_source(finish_table(rows, provenance, frame, header), reference, "comparison")


def ablation_table(
    scores: pd.DataFrame,
    provenance: Provenance,
    reference: pd.DataFrame | None = None,
    config: BootstrapConfig | None = None,
) -> pd.DataFrame:
    """Rows M0..M3 (those present): the comparison's columns, but the difference is each row − the previous row
    (`{m}_step`, empty on the first row), plus the paper's user-study fraction for that same step where known."""
    frame = validate_scores(scores)
    methods = _methods(frame[frame["task"] == "decomposition"], ABLATION)
    paper = _paper(reference)
    previous = [None, *methods][: len(methods)]
    rows, header = _method_table(frame, methods, previous.__getitem__, "step", paper, config or BootstrapConfig())
    study = {task: "paper_" + task.replace(" ", "_") for task in ABLATION_TASKS}
    for row, prev in zip(rows, previous, strict=True):
        for task, column in study.items():
            row[column] = paper.get(("ablation", row["method"], prev or "", task, "user_preference"), math.nan)
    table = finish_table(rows, provenance, frame, header + list(study.values()))
    return _reference_source(table, reference, "ablation")


def _winrate_scope(rows: pd.DataFrame, metric: str, task: str) -> pd.DataFrame:
    """A metric's rows that a win-rate task compares: decomposition outputs of the metric's kinds, or (for
    "recombination") the decomposition task's combined outputs, i.e. the paper's self-recombination."""
    if task == "recombination":
        return rows[(rows["task"] == "decomposition") & (rows["kind"] == "combined")]
    return metric_rows(rows, metric, WINRATE_KINDS[task])


def winrate_table(
    scores: pd.DataFrame,
    provenance: Provenance,
    reference: pd.DataFrame | None = None,
    config: BootstrapConfig | None = None,
) -> pd.DataFrame:
    """Metric win rates (long format), the automatic counterpart of the paper's user-study tables; one row per
    (pair, task, metric, mode). A pair, metric or mode without matched items is skipped."""
    frame = validate_scores(scores)
    config, paper, present = config or BootstrapConfig(), _paper(reference), set(frame["method"].unique())
    pairs = [(REFERENCE_METHOD, b, t) for b in BASELINES for t in ("decomposition", "recombination")]
    pairs += [(a, b, t) for a, b in zip(ABLATION[1:], ABLATION[:-1], strict=True) for t in ABLATION_TASKS]
    pairs = [(a, b, t) for a, b, t in pairs if {a, b} <= present]
    by_metric = _split(frame, "metric")
    scopes = {(t, m): _winrate_scope(by_metric[m], m, t) for t in WINRATE_KINDS for m in _metrics(frame)}
    groups = {key: (_modes(data), _split(data, ["mode", "method"])) for key, data in scopes.items()}
    rows = []
    for a, b, task in pairs:
        key = (a, b, task, "user_preference")  # main pairs are in the paper's table "winrate", steps in "ablation"
        study = paper.get(("winrate", *key), paper.get(("ablation", *key), math.nan))
        for m in _metrics(frame):
            modes, split = groups[task, m]
            for mode in modes:
                if (mode, a) not in split or (mode, b) not in split:
                    continue
                try:
                    wr = metric_win_rate(split[mode, a], split[mode, b], config)
                except NoData:  # both have the mode but no item in common
                    continue
                rows.append(
                    {"a": a, "b": b, "a_label": METHODS[a].label, "b_label": METHODS[b].label, "task": task,
                     "metric": m, "mode": mode, "n_images": wr.n_images, "n_units": wr.n_units, "n_items": wr.n_items,
                     "win_rate": wr.win_rate, "lo": wr.lo, "hi": wr.hi, "paper_preference": study}
                )  # fmt: skip
    columns = ["a", "b", "a_label", "b_label", "task", "metric", "mode", "n_images", "n_units", "n_items", "win_rate",
               "lo", "hi", "paper_preference"]  # fmt: skip
    return _reference_source(finish_table(rows, provenance, frame, columns), reference, "winrate", "ablation")


def per_image_table(scores: pd.DataFrame, provenance: Provenance) -> pd.DataFrame:
    """Mean and item count per (image, method, training seed, kind, mode, metric), over prompts and sample seeds;
    all tasks and kinds (cross-image recombinations have image ids "A+B")."""
    frame = validate_scores(scores)
    keys = ["image_id", "method", "train_seed", "kind", "mode", "metric"]
    out = frame.groupby(keys, sort=False)["value"].agg(mean="mean", n_items="count").reset_index()
    out.insert(2, "label", out["method"].map(lambda k: METHODS[k].label))
    ranks = {"method": _methods(frame), "kind": KINDS, "mode": _modes(frame), "metric": _metrics(frame)}
    ranks = {col: {v: i for i, v in enumerate(order)} for col, order in ranks.items()}
    out = out.sort_values(["method", "image_id", "train_seed", "kind", "mode", "metric"],
                          key=lambda s: s.map(ranks[s.name]) if s.name in ranks else s)  # fmt: skip
    columns = ["image_id", "method", "label", "train_seed", "kind", "mode", "metric", "mean", "n_items"]
    return finish_table(out[columns].to_dict("records"), provenance, frame, columns)


def recombination_table(
    scores: pd.DataFrame, provenance: Provenance, config: BootstrapConfig | None = None
) -> pd.DataFrame:
    """Combined outputs per (method, task "self"/"cross", mode): per metric mean, CI, n_images, n_units. Content metrics
    were scored against the content reference, style metrics against the style reference (as the rows hold them)."""
    frame, config = validate_scores(scores), config or BootstrapConfig()
    combined = frame[frame["kind"] == "combined"]
    metrics = _metrics(combined)
    split = _split(combined, ["method", "task", "mode", "metric"])
    rows = []
    for method in _methods(combined):
        for task, name in (("decomposition", "self"), ("recombination", "cross")):
            present = combined[(combined["method"] == method) & (combined["task"] == task)]
            for mode in _modes(present):
                row = {"method": method, "label": METHODS[method].label, "task": name, "mode": mode}
                for m in metrics:
                    cells = _estimate_cells(split.get((method, task, mode, m)), m, config)
                    row |= {k: v for k, v in cells.items() if not k.endswith("_seed_sd")}
                rows.append(row)
    header = ["method", "label", "task", "mode"] + [
        f"{m}_{s}" for m in metrics for s in ("mean", "lo", "hi", "n_images", "n_units")
    ]
    return finish_table(rows, provenance, frame, header)


def finish_table(rows: list[dict], provenance: Provenance, frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The table with a fixed column order (also when it has no rows), then each row's method's `train_settings`
    (when the provenance has them), then the provenance columns."""
    out = pd.DataFrame(rows, columns=columns)
    if provenance.method_settings and "method" in out.columns:
        out["train_settings"] = out["method"].map(provenance.method_settings).fillna("")
    for key, value in provenance.columns(weights_string(frame)).items():
        out[key] = value
    return out.reset_index(drop=True)
