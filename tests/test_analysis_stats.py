"""Known-answer tests of the statistics: cluster bootstrap over images, paired differences, metric win rates and
the spread across training seeds, on hand-made frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.stats import (
    BootstrapConfig,
    NoData,
    bootstrap_mean,
    cluster_mean,
    match_items,
    metric_win_rate,
    paired_difference,
    per_unit_means,
    train_seed_spread,
)

FAST = BootstrapConfig(n_boot=200, seed=0)


def items(values: dict[str, list[float]], train_seed: int = 0, kind: str = "style") -> pd.DataFrame:
    """One row per item: image id → that image's values (one per prompt), all other keys fixed."""
    rows = [
        {"image_id": image, "train_seed": train_seed, "kind": kind, "mode": "single", "prompt_id": f"p{i}",
         "seed": 0, "value": v}
        for image, vs in values.items()
        for i, v in enumerate(vs)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_bootstrap_of_four_image_means_centres_on_their_mean_within_their_range():
    mean, lo, hi = bootstrap_mean(np.array([1.0, 2.0, 3.0, 4.0]), BootstrapConfig(n_boot=2000, seed=0))
    assert mean == 2.5
    assert 1.0 <= lo < 2.5 < hi <= 4.0
    # A 95% CI of four spread values is wide: not a degenerate interval.
    assert hi - lo > 1.0


def test_equal_images_give_a_zero_width_interval_and_one_image_degenerates_to_the_point():
    mean, lo, hi = bootstrap_mean([0.3, 0.3, 0.3], FAST)
    assert lo == hi == 0.3 and mean == pytest.approx(0.3)
    assert bootstrap_mean([0.7], FAST) == (0.7, 0.7, 0.7)


def test_level_sets_the_percentiles():
    assert BootstrapConfig(level=0.95).percentiles == (2.5, 97.5)
    assert BootstrapConfig(level=0.9).percentiles == pytest.approx((5.0, 95.0))
    values = np.arange(20.0)
    _, lo95, hi95 = bootstrap_mean(values, BootstrapConfig(n_boot=500, level=0.95))
    _, lo50, hi50 = bootstrap_mean(values, BootstrapConfig(n_boot=500, level=0.5))
    assert lo95 < lo50 < hi50 < hi95
    with pytest.raises(ValueError, match="level"):
        BootstrapConfig(level=95)
    with pytest.raises(ValueError, match="n_boot"):
        BootstrapConfig(n_boot=0)


def test_images_are_the_clusters_an_image_with_many_items_weighs_as_much_as_one_with_one():
    frame = items({"a": [1.0] * 100, "b": [0.0]})
    est = cluster_mean(frame, FAST)
    assert est.mean == 0.5  # pooling items would give 100/101
    assert (est.n_images, est.n_items, est.n_units) == (2, 101, 2)
    assert per_unit_means(frame).to_dict() == {"a": 1.0, "b": 0.0}


def test_a_unit_column_makes_the_units_the_clusters():
    """Two renders of one pair are one unit: the CI resamples pairs, so two identical renders per pair give the CI
    of the pairs alone (not a narrower one, as if there were twice as many independent images)."""
    pairs = {"p": 1.0, "q": 0.0, "r": 1.0, "s": 0.5}
    renders = items({f"{k}{n}": [v] for k, v in pairs.items() for n in range(2)})
    renders["unit"] = renders["image_id"].str[0]
    by_pair, by_image = cluster_mean(renders, FAST), cluster_mean(renders.drop(columns="unit"), FAST)
    alone = cluster_mean(items({k: [v] for k, v in pairs.items()}), FAST)
    assert (by_pair.n_images, by_pair.n_units) == (8, 4) and (by_image.n_units, alone.n_units) == (8, 4)
    assert (by_pair.mean, by_pair.lo, by_pair.hi) == (alone.mean, alone.lo, alone.hi)
    assert by_image.hi - by_image.lo < by_pair.hi - by_pair.lo  # renders counted as independent: too narrow
    other = renders.assign(value=renders["value"] * 0.5)
    assert paired_difference(renders, other, FAST).n_units == 4  # the difference's clusters are A's units
    assert metric_win_rate(renders, other, FAST).n_units == 4


def test_same_seed_same_interval_other_seed_other_draws():
    values = np.random.default_rng(1).normal(size=15)
    assert bootstrap_mean(values, BootstrapConfig(n_boot=300, seed=4)) == bootstrap_mean(
        values, BootstrapConfig(n_boot=300, seed=4)
    )
    assert bootstrap_mean(values, BootstrapConfig(n_boot=300, seed=4)) != bootstrap_mean(
        values, BootstrapConfig(n_boot=300, seed=5)
    )


def test_interval_shrinks_as_images_increase():
    rng = np.random.default_rng(0)
    config = BootstrapConfig(n_boot=1000, seed=0)
    _, lo10, hi10 = bootstrap_mean(rng.normal(size=10), config)
    _, lo1000, hi1000 = bootstrap_mean(rng.normal(size=1000), config)
    assert hi1000 - lo1000 < (hi10 - lo10) / 3  # about sqrt(100) = 10 times narrower


def test_paired_difference_of_a_constant_shift_is_the_shift_with_zero_width():
    a = items({"x": [0.25, 0.5], "y": [0.75], "z": [0.125, 0.375, 0.625]})
    b = a.assign(value=a["value"] + 0.125)  # dyadic values: the subtraction is exact in floating point
    est = paired_difference(b, a, FAST)
    assert (est.mean, est.lo, est.hi) == (0.125, 0.125, 0.125)
    assert (est.n_images, est.n_items) == (3, 6)
    c = a.assign(value=a["value"] + 0.1)
    est = paired_difference(c, a, FAST)
    assert est.mean == pytest.approx(0.1, abs=1e-12) and est.hi - est.lo == pytest.approx(0.0, abs=1e-12)


def test_paired_difference_uses_only_matched_items_and_shared_images():
    a = items({"x": [1.0, 1.0], "y": [1.0], "only_a": [9.0]})
    b = items({"x": [0.5], "y": [0.0], "only_b": [-9.0]})  # x has one prompt in B: A's second x item is unmatched
    est = paired_difference(a, b, FAST)
    assert (est.n_images, est.n_items) == (2, 2)
    assert est.mean == pytest.approx((0.5 + 1.0) / 2)
    with pytest.raises(NoData):
        paired_difference(items({"x": [1.0]}), items({"y": [1.0]}), FAST)


def test_match_items_needs_all_keys_equal():
    a = items({"x": [1.0]}, train_seed=0)
    assert match_items(a, items({"x": [2.0]}, train_seed=1)).empty
    assert match_items(a, items({"x": [2.0]}, kind="content")).empty
    assert len(match_items(a, items({"x": [2.0]}))) == 1
    with pytest.raises(ValueError, match="several rows"):
        match_items(pd.concat([a, a]), a)


def test_win_rate_strictly_larger_is_one_ties_half_smaller_zero():
    a = items({"x": [0.5, 0.6], "y": [0.7]})
    assert metric_win_rate(a.assign(value=a["value"] + 0.01), a, FAST).win_rate == 1.0
    tie = metric_win_rate(a, a, FAST)
    assert (tie.win_rate, tie.lo, tie.hi) == (0.5, 0.5, 0.5)
    lose = metric_win_rate(a.assign(value=a["value"] - 0.01), a, FAST)
    assert (lose.win_rate, lose.lo, lose.hi, lose.n_items, lose.n_images) == (0.0, 0.0, 0.0, 3, 2)


def test_win_rate_pools_items_and_resamples_images():
    # Image x: A wins 3 of 4 items; image y: A loses its only item. Pooled: 3/5 (not the mean of rates, 0.375).
    b = items({"x": [0.5] * 4, "y": [0.5]})
    a = items({"x": [0.6, 0.6, 0.6, 0.4], "y": [0.4]})
    wr = metric_win_rate(a, b, BootstrapConfig(n_boot=2000, seed=0))
    assert wr.win_rate == pytest.approx(0.6)
    assert (wr.n_images, wr.n_items) == (2, 5)
    # Resamples: {y, y} → 0, {x, x} → 0.75, mixed → 0.6; the 95% CI spans the extremes.
    assert (wr.lo, wr.hi) == (0.0, 0.75)


def test_train_seed_spread_is_the_sd_of_per_seed_means_and_zero_for_one_seed():
    frame = pd.concat(
        [items({"a": [1.0, 1.0, 1.0], "b": [2.0]}, train_seed=0), items({"a": [2.0], "b": [3.0]}, train_seed=1)]
    )
    spread = train_seed_spread(frame)
    assert spread.means == {0: 1.5, 1: 2.5}  # per-image means first, then over images
    assert spread.sd == pytest.approx(np.std([1.5, 2.5], ddof=1)) and spread.n_train_seeds == 2
    single = train_seed_spread(items({"a": [1.0, 3.0]}))
    assert (single.sd, single.n_train_seeds, single.means) == (0.0, 1, {0: 2.0})


def test_empty_and_non_finite_inputs_are_refused():
    with pytest.raises(NoData):
        cluster_mean(items({}).reindex(columns=["image_id", "value"]), FAST)
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_mean([0.1, float("nan")], FAST)
