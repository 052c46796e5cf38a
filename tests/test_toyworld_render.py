"""The toy world's renderer: deterministic by seed, every factor drawable, the known/novel split as documented."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from toyworld.render import (
    HELD_OUT,
    KNOWN_SHAPES,
    KNOWN_STYLES,
    NOVEL_SHAPES,
    NOVEL_STYLES,
    SHAPES,
    SIZE,
    STYLES,
    draw_scene,
    pretraining_pairs,
    render,
    silhouette,
)


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_the_same_seed_gives_the_same_pixels_and_another_seed_other_pixels():
    for shape, style in [("star", "stripes"), ("ring", "watercolour"), ("arrow", "mosaic"), ("heart", "sketch")]:
        first, again, other = render(shape, style, 7), render(shape, style, 7), render(shape, style, 8)
        assert first.size == (SIZE, SIZE) and first.mode == "RGB"
        assert first.tobytes() == again.tobytes()
        assert np.abs(pixels(first) - pixels(other)).mean() > 5


def test_every_shape_in_every_style_renders_a_visible_object():
    for shape, style in itertools.product(SHAPES, STYLES):
        scene = draw_scene(shape, style, seed=3)
        coverage = silhouette(scene).mean()
        assert 0.04 < coverage < 0.6, (shape, coverage)
        image = pixels(render(shape, style, 3))
        inside, outside = silhouette(scene) > 0.99, silhouette(scene) < 0.01
        # The object differs from its background (a style is drawn on both, in different colours).
        assert np.abs(image[inside].mean(0) - image[outside].mean(0)).max() > 12, (shape, style)


def test_shapes_are_distinct_silhouettes_at_the_same_place_and_size():
    scene = draw_scene("circle", "solid", seed=0)
    masks = {name: silhouette(replace(scene, shape=name)) > 0.5 for name in SHAPES}
    for a, b in itertools.combinations(SHAPES, 2):
        iou = (masks[a] & masks[b]).sum() / (masks[a] | masks[b]).sum()
        assert iou < 0.85, (a, b, iou)  # circle vs square is the closest pair, ≈ 0.81


def test_nuisance_does_not_depend_on_the_factors():
    """Position, size and colours are owned by neither LoRA: the same seed draws them alike for any shape/style."""
    base = draw_scene("circle", "solid", seed=11)
    for shape, style in [("arrow", "plaid"), ("heart", "sketch")]:
        other = draw_scene(shape, style, seed=11)
        assert (other.cx, other.cy, other.radius, other.palette) == (base.cx, base.cy, base.radius, base.palette)
    assert draw_scene("circle", "solid", seed=12).palette != base.palette


def test_the_split_into_known_novel_and_held_out():
    assert set(KNOWN_SHAPES) | set(NOVEL_SHAPES) == set(SHAPES) and not set(KNOWN_SHAPES) & set(NOVEL_SHAPES)
    assert set(KNOWN_STYLES) | set(NOVEL_STYLES) == set(STYLES) and not set(KNOWN_STYLES) & set(NOVEL_STYLES)
    shapes, styles = zip(*HELD_OUT, strict=True)
    assert sorted(shapes) == sorted(KNOWN_SHAPES) and sorted(styles) == sorted(KNOWN_STYLES)  # each once
    pairs = pretraining_pairs()
    assert len(pairs) == len(KNOWN_SHAPES) * len(KNOWN_STYLES) - len(HELD_OUT)
    assert not set(pairs) & set(HELD_OUT)
    assert {s for s, _ in pairs} == set(KNOWN_SHAPES) and {t for _, t in pairs} == set(KNOWN_STYLES)


def test_unknown_factors_are_clear_errors():
    with pytest.raises(ValueError, match="unknown shape 'blob'; choose from circle"):
        render("blob", "solid", 0)
    with pytest.raises(ValueError, match="unknown style 'neon'"):
        render("circle", "neon", 0)


def test_the_atlas_shows_every_shape_in_every_style(tmp_path):
    from toyworld.__main__ import main

    main(["atlas", str(tmp_path / "atlas.png"), "--scale", "1"])
    sheet = np.asarray(Image.open(tmp_path / "atlas.png"))
    assert sheet.shape == (SIZE * len(SHAPES), SIZE * len(STYLES), 3)
    cell = sheet[SIZE * 3 : SIZE * 4, SIZE * 2 : SIZE * 3]  # row 3 = star, column 2 = dots
    assert np.array_equal(cell, pixels(render("star", "dots", 3 * len(STYLES) + 2)))
