"""The toy benchmark's two tiers: sizes, ground truth, and their relation to what pretraining saw."""

import numpy as np
import pytest

from toyworld.basemodel import pretraining_captions
from toyworld.benchmark import benchmark_images, spread, tier_pairs
from toyworld.render import KNOWN_SHAPES, KNOWN_STYLES, pretraining_pairs


def test_each_tier_has_at_least_eight_images_with_unique_ids_and_seeds():
    images = benchmark_images(per_pair=3)
    for tier in ("bind", "novel"):
        assert len([i for i in images if i.tier == tier]) >= 3 * 8
    assert len({i.id for i in images}) == len(images) and len({i.seed for i in images}) == len(images)


def test_bind_pairs_are_known_factors_never_seen_together_and_novel_factors_are_unknown():
    pretrained = set(pretraining_pairs())
    for shape, style in tier_pairs("bind"):
        assert shape in KNOWN_SHAPES and style in KNOWN_STYLES and (shape, style) not in pretrained
    captions = " ".join(pretraining_captions())
    for shape, style in tier_pairs("novel"):
        assert shape not in KNOWN_SHAPES and style not in KNOWN_STYLES
        assert f" {shape}" not in captions and f" {style} " not in captions


def test_benchmark_images_render_the_same_pixels_every_time():
    item = benchmark_images("novel")[0]
    assert np.array_equal(np.asarray(item.render()), np.asarray(item.render()))
    assert benchmark_images("novel") == benchmark_images("novel")


def test_an_unknown_tier_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown benchmark tier 'easy'; choose from: bind, novel"):
        benchmark_images("easy")


def test_spread_picks_images_across_the_tier_and_refuses_impossible_counts():
    novel = benchmark_images("novel")
    picked = spread(novel, 4)
    assert len(picked) == 4 and len({i.shape for i in picked}) == 3 and len({i.style for i in picked}) == 3
    assert spread(novel, len(novel)) == novel
    with pytest.raises(ValueError, match="asked for 10 benchmark images; the tier has 9"):
        spread(novel, 10)
