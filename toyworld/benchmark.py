"""The toy world's benchmark images, as data: two tiers of one-image tasks with known answers.

- `bind`: each held-out pair of known factors (the base model knows the shape and the style, never together);
- `novel`: each novel shape × novel style (neither ever seen in pretraining).

    for item in benchmark_images("novel"):       # BenchmarkImage(id="novel_hourglass_zigzag_0", ...)
        image = item.render()
"""

from __future__ import annotations

from dataclasses import dataclass

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
