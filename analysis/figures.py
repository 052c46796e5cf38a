"""The report's figures, one function each. Every function writes `<out_stem>.png` and `<out_stem>.pdf` and
returns their paths (`lora_similarity` also returns its per-method summary).

Figures are built on `matplotlib.figure.Figure` directly (no pyplot: no global figure registry, no backend
switch), saved atomically (temp name in the same folder, then `os.replace`) and without timestamps or version
strings, so the same input gives byte-identical files. PNGs stay at most `MAX_PX` pixels on a side.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from analysis.loras import column_fractions, natural_key, run_similarity, similarity_summary
from metrics.registry import METRICS
from plumbing.figures import RC, save_figure
from unziplora.methods import METHODS

#: The comparison table's metrics, in the paper's column order, then CLIP-T.
BAR_METRICS = ("clip_i", "dino", "csd_style", "csd_content", "clip_t")
#: The ablation ladder M0 → M3.
ABLATION = ("joint", "prompt_sep", "column_sep", "unziplora")
GRID_COLUMNS = (
    ("input", "input"),
    ("content", "content only"),
    ("style", "style only"),
    ("official", "combined (official)"),
    ("addition", "combined (addition)"),
)
MISSING_GREY = 0.82


# ------------------------------------------------------------------------------------------------ building
def new_figure(width: float, height: float) -> Figure:
    """A figure of `width` × `height` inches with constrained layout (no pyplot registry)."""
    return Figure(figsize=(width, height), layout="constrained")


def shared_legend(fig: Figure, axes, ncols: int) -> None:
    """One legend below the panels with each label once (first handle wins); nothing if no artist is labelled."""
    handles: dict[str, object] = {}
    for ax in axes:
        for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(name, handle)
    if handles:
        fig.legend(
            list(handles.values()),
            list(handles),
            loc="outside lower center",
            ncols=min(ncols, len(handles)),
            frameon=False,
        )


# ------------------------------------------------------------------------------------------------ labels
def method_label(method: str, label: object = None) -> str:
    """Axis label of a method: its registry label and key ("M3 unziplora"); `label` overrides the registry's."""
    if not isinstance(label, str) or not label:
        label = METHODS[method].label if method in METHODS else ""
    if not label or method in label:
        return label or method
    return f"{label} {method}"


def _metric_title(metric: str) -> str:
    return METRICS[metric].label if metric in METRICS else metric


def _present_metrics(frame: pd.DataFrame, order: tuple[str, ...]) -> list[str]:
    """Metrics with a non-empty `{m}_mean` column: `order` first, then any other registry metric present."""
    known = list(order) + [m for m in METRICS if m not in order]
    return [
        m
        for m in known
        if f"{m}_mean" in frame.columns and pd.to_numeric(frame[f"{m}_mean"], errors="coerce").notna().any()
    ]


def _unit(metric: str) -> str:
    """What a metric's values are: a cosine similarity, or (the toy world's oracle columns) a fraction of images."""
    same_class = metric in METRICS and METRICS[metric].compare == "same_class"
    return "fraction of images" if same_class else "cosine similarity"


def error_bars(frame: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """mean and the (below, above) error-bar lengths from the CI columns; a missing bound draws no bar."""
    mean = pd.to_numeric(frame[f"{metric}_mean"], errors="coerce").to_numpy(dtype=float)
    lo = pd.to_numeric(frame.get(f"{metric}_lo", pd.Series(np.nan, index=frame.index)), errors="coerce")
    hi = pd.to_numeric(frame.get(f"{metric}_hi", pd.Series(np.nan, index=frame.index)), errors="coerce")
    below = np.nan_to_num(mean - lo.to_numpy(dtype=float), nan=0.0).clip(min=0)
    above = np.nan_to_num(hi.to_numpy(dtype=float) - mean, nan=0.0).clip(min=0)
    return mean, below, above


# ------------------------------------------------------------------------------------------------ 1. metric bars
def metric_bars(comparison: pd.DataFrame, out_stem: Path) -> tuple[Path, Path]:
    """Bar chart of the comparison table: one panel per metric, one bar per method with its 95% CI.

    comparison: one row per method with `method`, `label` and, per metric m, `{m}_mean`, `{m}_lo`, `{m}_hi` and
    optionally `{m}_paper` (the paper's value; NaN/empty = none). Metrics: those of BAR_METRICS present (then
    any other registry metric with a `_mean` column). Paper values are drawn as a black diamond.
    """
    metrics = _present_metrics(comparison, BAR_METRICS)
    if not metrics:
        raise ValueError("comparison frame has no registry metric with a non-empty `{metric}_mean` column")
    frame = comparison.reset_index(drop=True)
    given = frame["label"] if "label" in frame else [None] * len(frame)
    labels = [method_label(m, lab) for m, lab in zip(frame["method"], given, strict=True)]
    ncols = min(len(metrics), 3)
    nrows = math.ceil(len(metrics) / ncols)
    with matplotlib.rc_context(RC):
        fig = new_figure(3.1 * ncols + 0.8, 0.28 * len(frame) * nrows + 1.0 * nrows + 0.4)
        axes = np.atleast_1d(fig.subplots(nrows, ncols, sharey=True, squeeze=False)).ravel()
        y = np.arange(len(frame))
        for ax, metric in zip(axes, metrics, strict=False):  # the grid may have spare panels
            mean, below, above = error_bars(frame, metric)
            ax.barh(y, np.nan_to_num(mean), color="#4c78a8", height=0.65, label="mean (95% CI)")
            ax.errorbar(mean, y, xerr=[below, above], fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
            if f"{metric}_paper" in frame:
                paper = pd.to_numeric(frame[f"{metric}_paper"], errors="coerce").to_numpy(dtype=float)
                shown = ~np.isnan(paper)
                if shown.any():
                    ax.plot(paper[shown], y[shown], "D", color="black", ms=4, label="paper")
            for yi in y[np.isnan(mean)]:
                ax.text(0.01, yi, "n/a", va="center", fontsize=7, color="0.4", transform=ax.get_yaxis_transform())
            ax.set_title(_metric_title(metric))
            ax.set_xlabel(_unit(metric))
            ax.grid(axis="x", lw=0.4, alpha=0.5)
            ax.set_yticks(y, labels)
        axes[0].invert_yaxis()  # shared y: this flips every panel, so the table's first row is on top
        for ax in axes[len(metrics) :]:
            ax.set_visible(False)
        shared_legend(fig, axes[: len(metrics)], ncols=2)
        return save_figure(fig, out_stem, dpi=150)


# ------------------------------------------------------------------------------------------------ 2. ablation
def ablation_plot(ablation: pd.DataFrame, out_stem: Path) -> tuple[Path, Path]:
    """Metrics along the ablation ladder M0 → M3, one line per metric with 95% CI error bars and bands.

    ablation: rows for (a subset of) joint, prompt_sep, column_sep, unziplora in a `method` column, with the
    same `{m}_mean/_lo/_hi` columns as the comparison table. Panels by what a metric compares against:
    content metrics, style metrics, text metrics (each panel only if such a metric is present).
    """
    frame = ablation[ablation["method"].isin(ABLATION)].copy()
    if frame.empty:
        raise ValueError(f"ablation frame has none of the methods {ABLATION}")
    frame["_order"] = frame["method"].map(ABLATION.index)
    frame = frame.sort_values("_order").reset_index(drop=True)
    metrics = _present_metrics(frame, BAR_METRICS)
    if not metrics:
        raise ValueError("ablation frame has no registry metric with a non-empty `{metric}_mean` column")
    aspects = [("content", "content metrics"), ("style", "style metrics"), ("text", "text metrics")]
    panels = [(title, [m for m in metrics if METRICS[m].aspect == a]) for a, title in aspects]
    panels = [(t, ms) for t, ms in panels if ms]
    x = np.arange(len(frame))
    ticks = [method_label(m).replace(" ", "\n", 1) for m in frame["method"]]
    with matplotlib.rc_context(RC):
        fig = new_figure(3.2 * len(panels) + 0.4, 3.2)
        axes = np.atleast_1d(fig.subplots(1, len(panels), squeeze=False)).ravel()
        colours = matplotlib.colormaps["tab10"]
        for ax, (title, ms) in zip(axes, panels, strict=True):
            for metric in ms:
                colour = colours(metrics.index(metric) % 10)
                mean, below, above = error_bars(frame, metric)
                line = {"color": colour, "marker": "o", "ms": 4, "lw": 1.2, "capsize": 2}
                ax.errorbar(x, mean, yerr=[below, above], label=_metric_title(metric), **line)
                ax.fill_between(x, mean - below, mean + above, color=colour, alpha=0.15, lw=0)
            ax.set_title(title)
            ax.set_xticks(x, ticks)
            ax.set_xlim(-0.4, len(x) - 0.6)
            ax.set_ylabel(" / ".join(dict.fromkeys(_unit(m) for m in ms)))
            ax.grid(axis="y", lw=0.4, alpha=0.5)
            ax.legend(frameon=False, loc="best")
        return save_figure(fig, out_stem, dpi=150)


# ------------------------------------------------------------------------------------------------ image matrices
def _thumbnail(path: Path | None, cell: int) -> np.ndarray | None:
    """The image at `path` fitted into cell × cell pixels (RGB), or None when there is no such file."""
    if path is None or not Path(path).is_file():
        return None
    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((cell, cell), Image.Resampling.LANCZOS)  # small PDFs: embed cell-sized pixels, not 1024²
        return np.asarray(im)


def _draw_cell(fig: Figure, rect: tuple[float, float, float, float], image: np.ndarray | None) -> None:
    """One image in its own axes at `rect` (figure fractions); None draws the grey "missing" cell."""
    ax = fig.add_axes(rect, xticks=[], yticks=[])
    if image is None:
        ax.set_facecolor(str(MISSING_GREY))
        ax.text(0.5, 0.5, "missing", ha="center", va="center", color="0.5", fontsize=8, transform=ax.transAxes)
        ax.set_frame_on(False)
        return
    h, w = image.shape[:2]
    side = max(h, w)  # centre a non-square thumbnail in its square cell
    extent = ((side - w) / 2, (side + w) / 2, (side + h) / 2, (side - h) / 2)
    ax.imshow(image, extent=extent, interpolation="antialiased")
    ax.set(xlim=(0, side), ylim=(side, 0), facecolor="white")
    for spine in ax.spines.values():
        spine.set_linewidth(0.5)


def _image_matrix(
    cells: list[list], col_titles: list[str], row_titles: list[str], out_stem: Path, cell: int, corner: str = ""
) -> tuple[Path, Path]:
    """Lay out images in a grid of exact cell-pixel axes: an array is drawn, None is a missing (grey) cell and
    False an intentionally blank one."""
    # Pixels: gap between cells, row-header width (≈ 7 px per character at 9 pt, so long ids are not clipped),
    # column-header height.
    longest = max((len(line) for title in row_titles for line in title.splitlines()), default=0)
    pad, head_w, head_h = 6, max(110, 7 * longest + 16), 34
    width = head_w + len(col_titles) * (cell + pad)
    height = head_h + len(cells) * (cell + pad)
    dpi = 100.0  # figure inches × 100 = the pixel layout above, so each image cell is exactly `cell` pixels
    header = {"va": "center", "fontsize": 9}
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(width / dpi, height / dpi))
        for c, title in enumerate(col_titles):
            x = (head_w + c * (cell + pad) + cell / 2) / width
            fig.text(x, 1 - head_h / 2 / height, title, ha="center", wrap=True, **header)
        if corner:
            fig.text(4 / width, 1 - head_h / 2 / height, corner, ha="left", va="center", fontsize=7, color="0.3")
        for r, row in enumerate(cells):
            top = head_h + r * (cell + pad)
            fig.text((head_w - 8) / width, 1 - (top + cell / 2) / height, row_titles[r], ha="right", **header)
            for c, image in enumerate(row):
                if image is not False:
                    left = head_w + c * (cell + pad)
                    _draw_cell(fig, (left / width, 1 - (top + cell) / height, cell / width, cell / height), image)
        return save_figure(fig, out_stem, dpi=dpi)


def image_grid(
    input_image: Path, rows: list[tuple[str, dict[str, Path]]], out_stem: Path, cell: int = 192
) -> tuple[Path, Path]:
    """One input image's outputs: columns input | content only | style only | combined (official) | combined
    (addition), one row per method.

    rows: [(method_key, {"content": png, "style": png, "official": png, "addition": png})]; a missing key or file
    is drawn as a grey cell. The input image is shown once, in the first row. cell: pixels per image.
    """
    if not rows:
        raise ValueError("image_grid needs at least one method row")
    source = _thumbnail(input_image, cell)
    cells = []
    for i, (_, files) in enumerate(rows):
        row: list[np.ndarray | None | bool] = [source if i == 0 else False]
        row += [_thumbnail(files.get(key), cell) for key, _ in GRID_COLUMNS[1:]]
        cells.append(row)
    titles = [method_label(key).replace(" ", "\n", 1) for key, _ in rows]
    return _image_matrix(cells, [t for _, t in GRID_COLUMNS], titles, out_stem, cell)


def recombination_matrix(
    cells: dict[tuple[str, str], Path], contents: list[str], styles: list[str], out_stem: Path, cell: int = 160
) -> tuple[Path, Path]:
    """Cross-image recombinations: rows = content image ids, columns = style image ids.

    cells: (content_id, style_id) → image file; pairs not in `cells` (or whose file is absent) are grey.
    """
    if not contents or not styles:
        raise ValueError("recombination_matrix needs at least one content and one style id")
    grid = [[_thumbnail(cells.get((c, s)), cell) for s in styles] for c in contents]
    titles = [f"style: {s}" for s in styles], [f"content: {c}" for c in contents]
    return _image_matrix(grid, *titles, out_stem, cell, corner="content ↓  style →")


# ------------------------------------------------------------------------------------------------ 5. LoRA similarity
def _block(layer: str) -> str:
    """The UNet block a module lies in ("down_blocks.1", "mid_block", "up_blocks.0")."""
    return layer.split(".attentions.")[0]


def lora_similarity(runs: dict[str, Path], out_stem: Path) -> tuple[Path, Path, pd.DataFrame]:
    """Per-layer mean |cos| between the content and the style LoRA's ΔW rows (output channels), per method.

    runs: method key → run folder holding `content.safetensors` and `style.safetensors`. Left panel: per-layer
    values along the union of all methods' layers (module-name order, UNet blocks marked on the axis); right
    panel: the per-method summary (`analysis.loras.similarity_summary`, channel-weighted mean, with the fraction
    of masked channels skipped). Methods without shared layers (B-LoRA: disjoint blocks) are named in the plot.
    Returns (png, pdf, summary) with summary as `similarity_summary` plus a `label` column.
    """
    if not runs:
        raise ValueError("lora_similarity needs at least one run folder")
    layers = {method: run_similarity(path) for method, path in runs.items()}
    summary = similarity_summary(layers)
    summary.insert(1, "label", [method_label(m) for m in summary["method"]])
    union = sorted(set().union(*(set(f["layer"]) for f in layers.values())), key=natural_key)
    index = {name: i for i, name in enumerate(union)}
    with matplotlib.rc_context(RC):
        fig = new_figure(10.5, 4.2)
        ax, bx = fig.subplots(1, 2, width_ratios=(3, 1))
        colours = matplotlib.colormaps["tab10"]
        notes = []
        for i, (method, frame) in enumerate(layers.items()):
            label = method_label(method)
            if frame.empty:
                notes.append(f"{label}: no shared layers (content and style LoRAs on disjoint blocks)")
                continue
            xs = frame["layer"].map(index).to_numpy()
            ax.plot(xs, frame["mean_abs_cos"], marker="o", ms=2, lw=0.7, color=colours(i % 10), label=label)
        if union:
            starts = {}
            for name in union:
                starts.setdefault(_block(name), index[name])
            for pos in starts.values():
                ax.axvline(pos, color="0.85", lw=0.5, zorder=0)
            ax.set_xticks(list(starts.values()), list(starts), rotation=30, ha="right", fontsize=6)
            ax.set_xlabel("layer (module-name order)")
        else:
            ax.set_xticks([])
        note = {"transform": ax.transAxes, "color": "0.25", "bbox": {"facecolor": "white", "edgecolor": "none"}}
        if notes:
            ax.text(0.01, 0.98, "\n".join(notes), va="top", fontsize=7, **note)
        if not union:
            ax.text(0.5, 0.5, "no method has layers shared by its two LoRAs", ha="center", va="center", **note)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("mean |cos| of content vs style ΔW rows")
        ax.set_title("per-layer similarity of the two LoRAs")
        shared_legend(fig, [ax], ncols=6)
        y = np.arange(len(summary))
        values = summary["mean_abs_cos"].to_numpy(dtype=float)
        bx.barh(y, np.nan_to_num(values), color=[colours(i % 10) for i in range(len(summary))], height=0.6)
        for yi, (value, frac, n) in enumerate(zip(values, summary["frac_zero"], summary["n_layers"], strict=True)):
            text = "no shared layers" if n == 0 else f"{value:.3f} ({frac:.0%} zero channels skipped)"
            if n and np.isnan(value):
                text = f"every channel zero in one LoRA ({n} layers)"
            bx.text(0.02, yi, text, va="center", fontsize=7, transform=bx.get_yaxis_transform())
        bx.set_yticks(y, summary["label"])
        bx.invert_yaxis()
        bx.set_xlim(0, 1.05)
        bx.set_xlabel("channel-weighted mean |cos|")
        bx.set_title("per method")
        png, pdf = save_figure(fig, out_stem, dpi=150)
    return png, pdf, summary


# ------------------------------------------------------------------------------------------------ 6. mask fractions
def mask_fractions(records: dict[str, dict], out_stem: Path) -> tuple[Path, Path]:
    """Realised column-mask fractions per selection round, block group and LoRA, one panel per method.

    records: method key → its `run.json` dict. Methods whose `columns` is None (no column separation) are
    skipped; if none is left, the figure says so. Colour = block group (shared / content- / style-sensitive),
    line style = LoRA (content solid, style dashed); the grey dotted line is the nominal ratio × rounds.
    """
    table = column_fractions(records)
    methods = list(dict.fromkeys(table["method"]))
    group_colour = {"shared": "#4c78a8", "content": "#f58518", "style": "#54a24b"}
    adapter_style = {"content": ("-", "o"), "style": ("--", "s")}
    with matplotlib.rc_context(RC):
        fig = new_figure(max(3.4 * len(methods), 4.0) + 0.4, 3.6)
        if not methods:
            ax = fig.subplots()
            ax.set_axis_off()
            ax.text(0.5, 0.5, "no method with column separation", ha="center", va="center", fontsize=10)
            return save_figure(fig, out_stem, dpi=150)
        axes = np.atleast_1d(fig.subplots(1, len(methods), sharey=True, squeeze=False)).ravel()
        for ax, method in zip(axes, methods, strict=True):
            part = table[table["method"] == method]
            stages = list(dict.fromkeys(part["stage"]))
            x_of = {s: i for i, s in enumerate(stages)}
            ratio = (records[method].get("columns") or {}).get("ratio_per_round")
            rounds = [s for s in stages if s != "final"]
            if ratio is not None and rounds:
                nominal = [ratio * (i + 1) for i in range(len(rounds))]
                ax.plot(range(len(rounds)), nominal, ":", color="0.5", lw=1, label="nominal (ratio × rounds)")
            for (group, adapter), lines in part.groupby(["group", "adapter"], sort=False):
                ls, marker = adapter_style.get(adapter, ("-.", "^"))
                ax.plot(
                    lines["stage"].map(x_of),
                    lines["fraction"],
                    ls=ls,
                    marker=marker,
                    ms=4,
                    lw=1.1,
                    color=group_colour.get(group, "0.3"),
                    label=f"{adapter} LoRA, {group} blocks",
                )
            ax.set_xticks(range(len(stages)), [s.removeprefix("round ") for s in stages])
            ax.set_xlabel("selection round")
            ax.set_ylim(-0.03, 1.05)
            ax.set_title(method_label(method))
            ax.grid(axis="y", lw=0.4, alpha=0.5)
        axes[0].set_ylabel("fraction of output channels selected")
        shared_legend(fig, axes, ncols=4)  # the same group/LoRA series recur in every panel
        return save_figure(fig, out_stem, dpi=150)
