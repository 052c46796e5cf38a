"""The toy world's benchmark images, as data: two tiers of one-image tasks with known answers.

- `bind`: each held-out pair of known factors (the base model knows the shape and the style, never together);
- `novel`: each novel shape × novel style (neither ever seen in pretraining).

    for item in benchmark_images("novel"):       # BenchmarkImage(id="novel_hourglass_zigzag_0", ...)
        image = item.render()
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from toyworld.render import HELD_OUT, NOVEL_SHAPES, NOVEL_STYLES, render

TIERS = ("bind", "novel")
BENCHMARK_SEEDS = 4 * 10**9  # apart from pretraining, oracle training and oracle test seeds


@dataclass(frozen=True)
class BenchmarkImage:
    """One input image and its ground truth: the shape a content LoRA must learn, the style a style LoRA must."""

    id: str
    tier: str
    shape: str
    style: str
    seed: int

    def render(self) -> Image.Image:
        return render(self.shape, self.style, self.seed)

    @property
    def pair(self) -> str:
        """The shape–style pair this image renders: its renders share it, so they are not independent samples (the
        toy tables resample pairs, `tables.units_by: pair`)."""
        return f"{self.tier}_{self.shape}_{self.style}"


def tier_pairs(tier: str) -> list[tuple[str, str]]:
    """The (shape, style) pairs of a tier, in a fixed order."""
    if tier == "bind":
        return list(HELD_OUT)
    if tier == "novel":
        return [(shape, style) for shape in NOVEL_SHAPES for style in NOVEL_STYLES]
    raise ValueError(f"unknown benchmark tier {tier!r}; choose from: {', '.join(TIERS)}")


def benchmark_images(tier: str | None = None, per_pair: int = 1) -> list[BenchmarkImage]:
    """Every benchmark image of `tier` (both tiers when None); `per_pair` renders of each pair, with other nuisance."""
    images = []
    for t in TIERS if tier is None else (tier,):
        for k, (shape, style) in enumerate(tier_pairs(t)):
            for n in range(per_pair):
                seed = BENCHMARK_SEEDS + 10**5 * TIERS.index(t) + 100 * k + n  # unique while per_pair < 100
                images.append(BenchmarkImage(f"{t}_{shape}_{style}_{n}", t, shape, style, seed))
    return images


def spread(items: list[BenchmarkImage], n: int) -> list[BenchmarkImage]:
    """`n` of `items` evenly spaced (so a few images cover several shapes and styles, not one shape's row)."""
    if not 1 <= n <= len(items):
        raise ValueError(f"asked for {n} benchmark images; the tier has {len(items)}")
    return [items[i * len(items) // n] for i in range(n)]


#: What the benchmark images' prompts name: the generic class word and the rare style token (data/prompts/toy.yaml);
#: the placeholder token is the workflow's `token` (sks in the toy presets).
CONTENT_WORD, STYLE_WORD = "shape", "zwx"
SHEET_COLUMNS = ("id", "content", "style", "files", "sha256", "source_urls", "train_file", "draw_seed", "tier",
                 "true_shape", "true_style", "pair")  # fmt: skip


def write_sheet(out_dir, per_pair: int = 2) -> Path:
    """The benchmark as an image sheet the workflow reads like the paper's (`images.tsv`, one `<id>/<id>.png` per
    image) in `out_dir`, with each image's ground truth (tier, true_shape, true_style, pair); written atomically."""
    import csv

    from plumbing.records import staged_outputs
    from unziplora.dataset import sha256_of

    out_dir = Path(out_dir)
    with staged_outputs(out_dir) as stage:
        rows = []
        for item in benchmark_images(per_pair=per_pair):
            name = f"{item.id}.png"
            (stage / item.id).mkdir()
            item.render().save(stage / item.id / name)
            truth = {"tier": item.tier, "true_shape": item.shape, "true_style": item.style, "pair": item.pair}
            rows.append({"id": item.id, "content": CONTENT_WORD, "style": STYLE_WORD, "files": name,
                         "sha256": sha256_of(stage / item.id / name), "source_urls": "", "train_file": name,
                         "draw_seed": 0, **truth})  # fmt: skip
        with open(stage / "images.tsv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, SHEET_COLUMNS, delimiter="\t", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        for stale in (p for p in out_dir.iterdir() if p.is_dir() and not p.name.startswith(".staging-")):
            shutil.rmtree(stale)  # images of an earlier sheet that this one no longer lists
    return out_dir / "images.tsv"
