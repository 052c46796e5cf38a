"""Markdown renderings of the result tables (`analysis.tables`): one document per table, a pipe table of numbers
with their CIs, then a footer with a note, the bootstrap settings, the provenance and the metrics' caveats.

It renders the table frames as they are built; which rows make which column is `analysis.tables`' business.
The metric columns are read from the tables (`{metric}_mean`, in the tables' order).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from analysis.oracle import COLUMNS as ORACLE_COLUMNS
from analysis.stats import BootstrapConfig
from metrics.registry import METRICS


def _num(x: float, missing: str = "–", signed: bool = False) -> str:
    if isinstance(x, float) and math.isnan(x):
        return missing
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def _ci(row: pd.Series, value: str, lo: str, hi: str, signed: bool = False) -> str:
    """`0.427 [0.410, 0.441]` from the columns `value`, `lo`, `hi` of `row` ("–" where there is no estimate)."""
    if isinstance(row[value], float) and math.isnan(row[value]):
        return "–"
    return f"{_num(row[value], signed=signed)} [{_num(row[lo], signed=signed)}, {_num(row[hi], signed=signed)}]"


def _pct(x: float) -> str:
    return "" if math.isnan(x) else f"{100 * x:.2f}%"


@dataclass(frozen=True)
class Render:
    """What the Markdown footers share: the provenance columns, each metric's caveats, the bootstrap settings."""

    provenance: dict[str, str]
    caveats: dict[str, tuple[str, ...]]
    config: BootstrapConfig

    @classmethod
    def of(cls, frame: pd.DataFrame, provenance: dict[str, str], config: BootstrapConfig) -> Render:
        """From a validated score frame (its caveats) and the provenance columns (`Provenance.columns`)."""
        pairs = frame.loc[frame["caveat"] != "", ["metric", "caveat"]].drop_duplicates()
        caveats = {m: tuple(sorted(rows["caveat"])) for m, rows in pairs.groupby("metric")}
        return cls(provenance, caveats, config)

    def footer(self, metrics: list[str], note: str, cis: bool = True) -> str:
        """Note, bootstrap settings, provenance and the caveats of `metrics`, as paragraphs."""
        p, c = self.provenance, self.config
        lines = [note]
        if cis:
            lines.append(
                f"CIs: {c.level:.0%} percentile bootstrap over {resampled(c.unit)} (n_boot={c.n_boot}, seed={c.seed}); "
                f"each {c.unit}'s items are averaged first, and n counts {c.unit}s. Training seeds are not resampled "
                "(one seed's initial LoRA weights serve every image, so seeds and images are crossed): the spread of "
                "the per-seed means (seed SD, in the CSV) stands beside each CI."
            )
        lines.append(
            f"Provenance: commit `{p['commit']}`, config `{p['config_hash']}`, preset `{p['preset']}`; "
            f"weights: {p['weights']}; choices: {p['choices']}."
        )
        lines += [f"Caveat ({m}): {text}." for m in metrics for text in self.caveats.get(m, ())]
        return "\n\n".join(lines) + "\n"


def _document(title: str, headers: list[str], body: list[list], footer: str) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in cells) + " |" for cells in body]
    return f"# {title}\n\n" + "\n".join(lines) + "\n\n" + footer


def _metrics(table: pd.DataFrame) -> list[str]:
    """The metrics with an estimate column (`{m}_mean`) in `table`, in the table's column order."""
    return [c.removesuffix("_mean") for c in table.columns if c.endswith("_mean")]


def resampled(unit: str) -> str:
    """What a bootstrap resample draws, in words: "input images", or e.g. "pairs (sheet column `pair`)"."""
    return "input images" if unit == "image" else f"{unit}s (sheet column `{unit}`)"


def _estimate(row: pd.Series, m: str) -> str:
    return f"{_ci(row, f'{m}_mean', f'{m}_lo', f'{m}_hi')} (n={row[f'{m}_n_units']})"


def _method_markdown(table: pd.DataFrame, render: Render, step: str, title: str, note: str) -> str:
    metrics = _metrics(table)
    study = [c for c in table.columns if c.startswith("paper_")]
    headers = ["Method"] + [h for m in metrics for h in (METRICS[m].label, f"Δ {m}", "paper")]
    headers += ["train seeds"] + [f"paper {c[6:].replace('_', ' ')}" for c in study]
    body = []
    for _, row in table.iterrows():
        cells = [f"{row['label']} ({row['method']})"]
        for m in metrics:
            s = f"{m}_{step}"
            cells += [_estimate(row, m), _ci(row, s, f"{s}_lo", f"{s}_hi", signed=True), _num(row[f"{m}_paper"], "")]
        body.append(cells + [row["n_train_seeds"]] + [_pct(row[c]) for c in study])
    return _document(title, headers, body, render.footer(metrics, note))


def reference_note(table: pd.DataFrame) -> str:
    """Where the paper's numbers come from and whether they were checked, from the table's reference columns."""
    if table.empty or "reference_provenance" not in table.columns:
        return "paper values: none."
    row = table.iloc[0]
    note = f"paper values: {row['reference_provenance']}, checked against the PDF: {row['reference_verified']}"
    if row.get("reference_not_run"):
        note += f"; the paper also reports {row['reference_not_run']}, not run here (data/paper_reference.csv)"
    return note + "."


def comparison_markdown(table: pd.DataFrame, render: Render) -> str:
    """The comparison table (`analysis.tables.comparison_table`): estimates, Δ to UnZipLoRA, the paper's values."""
    note = "Δ = row − UnZipLoRA (M3), paired on matched items; " + reference_note(table)
    return _method_markdown(table, render, "diff", "Comparison (decomposition)", note)


def ablation_markdown(table: pd.DataFrame, render: Render) -> str:
    """The ablation table (`analysis.tables.ablation_table`): estimates, Δ to the previous row, the paper's study."""
    note = "Δ = row − previous row, paired on matched items; paper columns: its user study, same step; "
    note += reference_note(table)
    return _method_markdown(table, render, "step", "Ablation (decomposition)", note)


def winrate_markdown(table: pd.DataFrame, render: Render) -> str:
    """The metric win-rate table (`analysis.tables.winrate_table`), one line per row."""
    headers = ["A", "B", "task", "metric", "mode", "metric win rate", "images", render.config.unit + "s", "items",
               "paper preference"]  # fmt: skip
    body = [
        [row["a_label"], row["b_label"], row["task"], row["metric"], row["mode"], _ci(row, "win_rate", "lo", "hi"),
         row["n_images"], row["n_units"], row["n_items"], _pct(row["paper_preference"])]
        for _, row in table.iterrows()
    ]  # fmt: skip
    note = ("Metric win rate: fraction of matched items (same image, seeds, prompt) where A scores higher than B, "
            "ties 1/2; a score comparison, not a human preference. The paper column is its user study; "
            + reference_note(table))  # fmt: skip
    return _document("Metric win rates", headers, body, render.footer(list(dict.fromkeys(table["metric"])), note))


def recombination_markdown(table: pd.DataFrame, render: Render) -> str:
    """The recombination table (`analysis.tables.recombination_table`): per metric estimate, CI and n units."""
    metrics = _metrics(table)
    headers = ["Method", "task", "mode"] + [METRICS[m].label for m in metrics]
    body = [
        [f"{row['label']} ({row['method']})", row["task"], row["mode"]] + [_estimate(row, m) for m in metrics]
        for _, row in table.iterrows()
    ]
    note = "Combined outputs; content metrics against the content reference, style metrics against the style one."
    return _document("Recombination", headers, body, render.footer(metrics, note))


def per_image_markdown(table: pd.DataFrame, render: Render) -> str:
    """The per-image table (`analysis.tables.per_image_table`): means and item counts, no CIs."""
    headers = ["image", "method", "train seed", "kind", "mode", "metric", "mean", "items"]
    columns = ["image_id", "label", "train_seed", "kind", "mode", "metric", "mean", "n_items"]
    body = [[_num(v) if c == "mean" else v for c, v in zip(columns, row, strict=True)] for row in table[columns].values]
    note = "Per-image means over prompts and sample seeds (no CIs), all tasks and image kinds."
    return _document("Per-image means", headers, body, render.footer(list(render.caveats), note, cis=False))


def oracle_markdown(table: pd.DataFrame, render: Render) -> str:
    """The toy world's oracle table (`analysis.oracle.oracle_table`): fidelity and leakage fractions with CIs."""
    floors = table.iloc[0] if len(table) else {}
    headers = ["Method", "mode"] + [f"{c.replace('_', ' ')} (floor {_num(floors.get(f'{c}_floor', math.nan))})"
                                    for c in ORACLE_COLUMNS] + ["train seeds"]  # fmt: skip
    body = [
        [f"{row['label']} ({row['method']})", row["mode"]]
        + [_estimate(row, c) for c in ORACLE_COLUMNS]
        + [row["n_train_seeds"]]
        for _, row in table.iterrows()
    ]
    note = ("Fractions of generated images in which the toy world's oracles see the input's shape / style (combined: "
            "both; recombination: shape of A and style of B). Content-only images give content fidelity and style "
            "leakage, style-only images style fidelity and content leakage; leakage skips prompts that name the "
            "input's own other factor, and is split by what the prompt names of that factor: no style (unstyled) or "
            "another style, no shape (unshaped) or another shape. The floor beside each column is the base model's "
            "value, which never sees the input image (per mode: the first row's). The mode applies to the combined "
            "columns only.")  # fmt: skip
    return _document("Oracle fidelity and leakage (toy world)", headers, body, render.footer([], note))
