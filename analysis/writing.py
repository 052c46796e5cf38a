"""Build every result table from the score frame and write each as CSV + Markdown, atomically (`write_tables`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.markdown import (
    Render,
    ablation_markdown,
    comparison_markdown,
    oracle_markdown,
    per_image_markdown,
    recombination_markdown,
    winrate_markdown,
)
from analysis.oracle import has_oracle_scores, oracle_table
from analysis.stats import BootstrapConfig
from analysis.tables import (
    Provenance,
    ablation_table,
    comparison_table,
    finish_table,
    per_image_table,
    recombination_table,
    validate_scores,
    weights_string,
    winrate_table,
)
from plumbing.files import atomic_file


def write_table_csv(table: pd.DataFrame, path: Path) -> Path:
    """Write `table` to `path` as CSV (no index), atomically."""
    with atomic_file(path) as tmp:
        table.to_csv(tmp, index=False)
    return path


def write_table(table: pd.DataFrame, markdown: str, path: Path) -> tuple[Path, Path]:
    """Write `table` to `path` (CSV) and `markdown` next to it (`.md`, same stem), each atomically."""
    md_path = path.with_suffix(".md")
    write_table_csv(table, path)
    with atomic_file(md_path) as tmp:
        tmp.write_text(markdown, encoding="utf-8")
    return path, md_path


def write_tables(
    scores: pd.DataFrame,
    out_dir: Path,
    provenance: Provenance,
    reference: pd.DataFrame | None,
    n_boot: int = 2000,
    seed: int = 0,
    truth: dict[str, dict[str, str]] | None = None,
    subsets: dict[str, list[str]] | None = None,
    units: dict[str, str] | None = None,
    unit: str = "image",
) -> dict[str, Path]:
    """Build and write the tables (CSV + Markdown) into `out_dir`; returns {"comparison": path, ...,
    "comparison_md": path, ...}. Every statistic draws from `seed` (same seed → same files).

    With both oracle scores (the toy world) an `oracle` table joins the five; `truth` (image id → its true shape
    and style) lets its leakage columns skip prompts that name the input's own factor. `subsets` (name → image ids,
    e.g. the toy world's tiers) also writes every table on each subset's images into `out_dir/<name>/` (keys
    "<name>/comparison", ...); a recombination counts in a subset when both of its images do. `units` (image id →
    its unit, e.g. the toy benchmark's shape–style pair, a sheet column named `unit`) makes the bootstraps resample
    units instead of images (a recombination's unit is its two images' units); each table with CIs names its unit in
    a `ci_unit` column and its Markdown note."""
    if not isinstance(provenance, Provenance):
        raise ValueError("provenance must be an analysis.tables.Provenance(commit, config_hash, preset, choices)")
    frame = validate_scores(scores)
    if units:
        frame["unit"] = frame["image_id"].map(lambda i: "+".join(units.get(part, part) for part in i.split("+")))
    config = BootstrapConfig(n_boot=n_boot, seed=seed, unit=unit)
    paths = _write_set(frame, Path(out_dir), provenance, reference, config, truth)
    for name, ids in (subsets or {}).items():
        part = frame[frame["content_image"].isin(ids) & frame["style_image"].isin(ids)]
        if part.empty:
            raise ValueError(f"table subset {name!r} has no score rows; select some of its images or drop the subset")
        written = _write_set(part, Path(out_dir) / name, provenance, reference, config, truth)
        paths |= {f"{name}/{key}": path for key, path in written.items()}
    return paths


def _write_set(frame, out_dir: Path, provenance, reference, config: BootstrapConfig, truth) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    comparison = comparison_table(frame, provenance, reference, config)
    ablation = ablation_table(frame, provenance, reference, config)
    winrate = winrate_table(frame, provenance, reference, config)
    recombination = recombination_table(frame, provenance, config)
    per_image = per_image_table(frame, provenance)
    render = Render.of(frame, provenance.columns(weights_string(frame)), config)
    built = {
        "comparison": (comparison, comparison_markdown(comparison, render)),
        "ablation": (ablation, ablation_markdown(ablation, render)),
        "winrate": (winrate, winrate_markdown(winrate, render)),
        "per_image": (per_image, per_image_markdown(per_image, render)),
        "recombination": (recombination, recombination_markdown(recombination, render)),
    }
    if has_oracle_scores(frame):
        rows, header = oracle_table(frame, truth, config)
        oracle = finish_table(rows, provenance, frame, header)
        built["oracle"] = (oracle, oracle_markdown(oracle, render))
    paths: dict[str, Path] = {}
    for name, (table, markdown) in built.items():
        if name != "per_image":  # the tables with CIs say what their bootstrap resampled
            table.insert(table.columns.get_loc("commit"), "ci_unit", config.unit)
        paths[name], paths[f"{name}_md"] = write_table(table, markdown, out_dir / f"{name}.csv")
    return paths
