"""The toy world's renderer: a shape (content) drawn in a style (how the whole image is rendered), deterministic by
seed, with position, size and colours as nuisance factors that belong to neither LoRA.

Content and style are separable by construction: a style is a texture family (stripes, dots, a sketch on paper, a
mosaic, ...) applied to both the object and the background, in colours drawn independently of it; a shape is a
silhouette. Patterns have periods of 8 px or more at 64 px, coarse enough to survive a VAE that downsamples 4×.

    image = render("star", "stripes", seed=3)            # a 64×64 PIL image
    scene = draw_scene("star", "stripes", seed=3)        # the nuisance factors that image was drawn with
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 64
SUPERSAMPLE = 4  # silhouettes are drawn at 4× and box-filtered down: smooth edges, no aliasing


# ---- shapes: silhouettes in unit coordinates (centre 0, radius 1, y up) -----------------------------------------
def _polygon(points: list[tuple[float, float]]) -> Callable[[ImageDraw.ImageDraw, Callable], None]:
    def draw(canvas: ImageDraw.ImageDraw, to_px: Callable) -> None:
        canvas.polygon([to_px(x, y) for x, y in points], fill=255)

    return draw


def _regular(n: int, radius: float = 1.0, phase: float = 90.0, inner: float | None = None) -> list:
    """A regular n-gon (or an n-pointed star when `inner` is set), first vertex at `phase` degrees."""
    steps = 2 * n if inner else n
    pts = []
    for k in range(steps):
        r = radius if (inner is None or k % 2 == 0) else inner
        a = math.radians(phase + 360.0 * k / steps)
        pts.append((r * math.cos(a), r * math.sin(a)))
    return pts


def _ellipse(radius: float, dx: float = 0.0) -> Callable:
    def draw(canvas: ImageDraw.ImageDraw, to_px: Callable, fill: int = 255) -> None:
        (x0, y1), (x1, y0) = to_px(dx - radius, -radius), to_px(dx + radius, radius)
        canvas.ellipse([x0, y0, x1, y1], fill=fill)

    return draw


def _ring(canvas, to_px):
    _ellipse(1.0)(canvas, to_px)
    _ellipse(0.55)(canvas, to_px, fill=0)


def _crescent(canvas, to_px):
    _ellipse(1.0)(canvas, to_px)
    _ellipse(0.85, dx=0.45)(canvas, to_px, fill=0)


def _heart_points(n: int = 64) -> list[tuple[float, float]]:
    pts = []
    for k in range(n):
        t = 2 * math.pi * k / n
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        pts.append((x / 17.0, (y + 2.5) / 17.0))
    return pts


_CROSS = [(-0.32, 1), (0.32, 1), (0.32, 0.32), (1, 0.32), (1, -0.32), (0.32, -0.32), (0.32, -1), (-0.32, -1),
          (-0.32, -0.32), (-1, -0.32), (-1, 0.32), (-0.32, 0.32)]  # fmt: skip
_ARROW = [(-1, 0.28), (0.15, 0.28), (0.15, 0.75), (1, 0), (0.15, -0.75), (0.15, -0.28), (-1, -0.28)]

SHAPES: dict[str, Callable] = {
    "circle": _ellipse(0.95),
    "square": _polygon([(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)]),
    "triangle": _polygon(_regular(3, 1.0)),
    "star": _polygon(_regular(5, 1.0, inner=0.45)),
    "heart": _polygon(_heart_points()),
    "cross": _polygon(_CROSS),
    "ring": _ring,
    "diamond": _polygon([(0, 1), (0.8, 0), (0, -1), (-0.8, 0)]),
    "hourglass": _polygon([(-0.8, 1), (0.8, 1), (0.12, 0), (0.8, -1), (-0.8, -1), (-0.12, 0)]),
    "crescent": _crescent,
    "arrow": _polygon(_ARROW),
}


# ---- styles: texture families over the whole image ---------------------------------------------------------------
@dataclass(frozen=True)
class Palette:
    """Object colours (a, b) and background colours (c, d) as RGB floats in [0, 1]: nuisance, drawn per image."""

    a: tuple[float, float, float]
    b: tuple[float, float, float]
    c: tuple[float, float, float]
    d: tuple[float, float, float]


def _grid() -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(SIZE, dtype=np.float32), np.arange(SIZE, dtype=np.float32))


def _two_tone(pattern: np.ndarray, first, second) -> np.ndarray:
    """Colour `first` where pattern is 0 and `second` where it is 1 (fractions blend)."""
    p = pattern[..., None].astype(np.float32)
    return (1 - p) * np.asarray(first, np.float32) + p * np.asarray(second, np.float32)


def _pattern_style(pattern: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable:
    """A style that paints the same pattern on the object (colours a/b) and the background (colours c/d)."""

    def paint(alpha: np.ndarray, pal: Palette, rng: np.random.Generator) -> np.ndarray:
        x, y = _grid()
        p = pattern(x, y)
        return _composite(alpha, _two_tone(p, pal.c, pal.d), _two_tone(p, pal.a, pal.b))

    return paint


def _composite(alpha: np.ndarray, background: np.ndarray, obj: np.ndarray) -> np.ndarray:
    return background * (1 - alpha[..., None]) + obj * alpha[..., None]


def _solid(alpha, pal, rng):
    flat = np.zeros_like(alpha)
    return _composite(alpha, _two_tone(flat, pal.c, pal.d), _two_tone(flat, pal.a, pal.b))


def _gradient(alpha, pal, rng):
    _, y = _grid()
    ramp = y / (SIZE - 1)  # object dark→light downwards, background the other way: the edge stays visible
    return _composite(alpha, _two_tone(1 - ramp, pal.c, pal.d), _two_tone(ramp, pal.a, pal.b))


def _smooth_noise(rng: np.random.Generator, cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1]: a cells×cells random grid, bicubically upsampled."""
    grid = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
    return np.asarray(grid.resize((SIZE, SIZE), Image.BICUBIC), np.float32) / 255.0


def _watercolour(alpha, pal, rng):
    soft = np.asarray(Image.fromarray((alpha * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(2.0)), np.float32)
    obj = _two_tone(_smooth_noise(rng, 5), pal.a, pal.b)
    background = _two_tone(_smooth_noise(rng, 4) * 0.6, (0.97, 0.96, 0.92), pal.d)  # pale wash on paper
    return _composite(soft / 255.0, background, obj)


def _sketch(alpha, pal, rng):
    mask = Image.fromarray((alpha * 255).astype(np.uint8))
    inner = np.asarray(mask.filter(ImageFilter.MinFilter(5)), np.float32) / 255.0
    outline = np.clip(alpha - inner, 0, 1)  # a 2-px pencil line, no fill
    paper = 0.93 + 0.05 * _smooth_noise(rng, 8)[..., None]
    ink = np.asarray((0.15, 0.15, 0.17), np.float32)
    return paper * (1 - outline[..., None]) + ink * outline[..., None]


def _mosaic(alpha, pal, rng):
    tiles = 4  # 4×4 px tiles (one latent pixel of a 4× VAE), each with its own shade: blocky, but the shape reads
    image = _solid(alpha, pal, rng)
    blocks = image.reshape(SIZE // tiles, tiles, SIZE // tiles, tiles, 3).mean(axis=(1, 3))
    blocks *= rng.uniform(0.8, 1.12, size=blocks.shape[:2])[..., None]
    return np.repeat(np.repeat(blocks, tiles, axis=0), tiles, axis=1)


STYLES: dict[str, Callable] = {
    "solid": _solid,
    "stripes": _pattern_style(lambda x, y: ((x + y) // 6) % 2),
    "dots": _pattern_style(lambda x, y: ((x % 12 - 6) ** 2 + (y % 12 - 6) ** 2 <= 12).astype(np.float32)),
    "checker": _pattern_style(lambda x, y: (x // 8 + y // 8) % 2),
    "sketch": _sketch,
    "gradient": _gradient,
    "watercolour": _watercolour,
    "mosaic": _mosaic,
    "zigzag": _pattern_style(lambda x, y: ((y + np.abs(x % 16 - 8)) // 6) % 2),
    "plaid": _pattern_style(lambda x, y: ((x % 12 < 4) | (y % 12 < 4)).astype(np.float32)),
    "concentric": _pattern_style(lambda x, y: (np.hypot(x - SIZE / 2, y - SIZE / 2) // 5) % 2),
}

# ---- the split ---------------------------------------------------------------------------------------------------
#: Factors the base model is pretrained on (minus HELD_OUT), and factors it never sees (the `novel` tier).
KNOWN_SHAPES = ("circle", "square", "triangle", "star", "heart", "cross", "ring", "diamond")
NOVEL_SHAPES = ("hourglass", "crescent", "arrow")
KNOWN_STYLES = ("solid", "stripes", "dots", "checker", "sketch", "gradient", "watercolour", "mosaic")
NOVEL_STYLES = ("zigzag", "plaid", "concentric")
#: Known × known combinations never shown in pretraining (the `bind` tier): a Latin-square diagonal, so every known
#: shape and every known style is held out exactly once.
HELD_OUT = tuple((shape, KNOWN_STYLES[(3 * i + 1) % len(KNOWN_STYLES)]) for i, shape in enumerate(KNOWN_SHAPES))


def pretraining_pairs() -> list[tuple[str, str]]:
    """The (shape, style) combinations the base model is trained on: known × known minus HELD_OUT."""
    return [(s, t) for s in KNOWN_SHAPES for t in KNOWN_STYLES if (s, t) not in HELD_OUT]


# ---- scenes ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scene:
    """Everything one image is drawn from: its two factors, and the nuisance (centre, radius in px, palette)."""

    shape: str
    style: str
    seed: int
    cx: float
    cy: float
    radius: float
    palette: Palette


def _rgb(h: float, s: float, v: float) -> tuple[float, float, float]:
    return tuple(float(c) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def draw_scene(shape: str, style: str, seed: int) -> Scene:
    """The nuisance factors of image (shape, style, seed): a seeded draw, independent of the two factors' values."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose from {', '.join(SHAPES)}")
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose from {', '.join(STYLES)}")
    rng = np.random.default_rng(seed)
    radius = rng.uniform(0.25, 0.36) * SIZE
    cx, cy = rng.uniform(radius + 2, SIZE - radius - 2, size=2)
    h = rng.random()
    hb = h + rng.uniform(0.3, 0.7)  # background hue far from the object's
    palette = Palette(
        a=_rgb(h, rng.uniform(0.6, 0.9), rng.uniform(0.45, 0.7)),
        b=_rgb(h, rng.uniform(0.2, 0.45), rng.uniform(0.85, 1.0)),
        c=_rgb(hb, rng.uniform(0.5, 0.8), rng.uniform(0.75, 0.95)),
        d=_rgb(hb, rng.uniform(0.15, 0.35), rng.uniform(0.35, 0.55)),
    )
    return Scene(shape, style, seed, float(cx), float(cy), float(radius), palette)


def silhouette(scene: Scene) -> np.ndarray:
    """The shape's coverage in [0, 1] (SIZE×SIZE), anti-aliased."""
    big = SIZE * SUPERSAMPLE
    mask = Image.new("L", (big, big), 0)
    r = scene.radius * SUPERSAMPLE

    def to_px(x: float, y: float) -> tuple[float, float]:
        return (scene.cx * SUPERSAMPLE + x * r, scene.cy * SUPERSAMPLE - y * r)

    SHAPES[scene.shape](ImageDraw.Draw(mask), to_px)
    return np.asarray(mask.resize((SIZE, SIZE), Image.BOX), np.float32) / 255.0


def render_scene(scene: Scene) -> Image.Image:
    """The RGB image of a scene."""
    rng = np.random.default_rng([scene.seed, 1])  # the style's own texture noise, separate from the scene draw
    pixels = STYLES[scene.style](silhouette(scene), scene.palette, rng)
    return Image.fromarray((np.clip(pixels, 0, 1) * 255).round().astype(np.uint8), "RGB")


def render(shape: str, style: str, seed: int) -> Image.Image:
    """A SIZE×SIZE RGB image of `shape` in `style`; the same arguments give the same pixels."""
    return render_scene(draw_scene(shape, style, seed))


def atlas(shapes=tuple(SHAPES), styles=tuple(STYLES), seed: int = 0) -> Image.Image:
    """Every shape (rows) in every style (columns), one seed per cell: a picture of the whole world."""
    sheet = Image.new("RGB", (SIZE * len(styles), SIZE * len(shapes)), "white")
    for i, shape in enumerate(shapes):
        for j, style in enumerate(styles):
            sheet.paste(render(shape, style, seed + i * len(styles) + j), (SIZE * j, SIZE * i))
    return sheet
