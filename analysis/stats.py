"""Statistics over score rows: cluster-bootstrap CIs over independent units, paired differences, metric win rates
and the spread across training seeds. Pure functions of data frames; every random draw comes from
`numpy.random.default_rng(config.seed)`, so a result is a function of its inputs and the config.

The unit of resampling (the cluster) is the frame's `unit` column when it has one, else the input image: a unit's
items (images, prompts, sample seeds, training seeds) are averaged first, so a unit with many generations weighs the
same as one with few, and the CI reflects how much the result depends on which units were picked, not on the
correlated generations of one unit. Units are what is independent: on the toy benchmark the shape–style pair, whose
two renders share everything the methods are asked to learn (`tables.units_by: pair`); on the paper's sheet the
image. Training seeds are not resampled (they are crossed with the units: one seed's initial LoRA weights serve every
image); `train_seed_spread` reports their spread beside each CI.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: What makes two score rows of different methods the same item (one metric, one task at a time).
ITEM_KEYS = ("image_id", "train_seed", "kind", "mode", "prompt_id", "seed")


class NoData(ValueError):
    """Nothing to estimate: no rows, or no items that both methods have."""


@dataclass(frozen=True)
class BootstrapConfig:
    """Percentile bootstrap settings: `n_boot` resamples, a two-sided CI at `level`, drawn from `seed`."""

    n_boot: int = 2000
    level: float = 0.95
    seed: int = 0
    unit: str = "image"  # what a resample draws, for the tables' notes (the frames' `unit` column holds its values)

    def __post_init__(self) -> None:
        if self.n_boot < 1:
            raise ValueError(f"n_boot must be at least 1, got {self.n_boot}")
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {self.level}")

    @property
    def percentiles(self) -> tuple[float, float]:
        """The two percentiles of the bootstrap distribution that bound the CI, e.g. (2.5, 97.5)."""
        tail = (100.0 - 100.0 * self.level) / 2.0  # not 100 * (1 - level): 1 - 0.95 is 0.050000000000000044
        return tail, 100.0 - tail


@dataclass(frozen=True)
class Estimate:
    """A mean over units with its bootstrap CI; `n_items` counts the rows (or matched pairs) behind it, `n_images`
    the input images and `n_units` the resampled units (equal to `n_images` when each image is its own unit)."""

    mean: float
    lo: float
    hi: float
    n_images: int
    n_items: int
    n_units: int


@dataclass(frozen=True)
class WinRate:
    """Fraction of matched items where A scored higher than B (ties 1/2), with its bootstrap CI over units."""

    win_rate: float
    lo: float
    hi: float
    n_images: int
    n_items: int
    n_units: int


@dataclass(frozen=True)
class SeedSpread:
    """Overall mean per training seed (each a mean over images) and their standard deviation (ddof=1)."""

    means: dict[int, float]
    sd: float
    n_train_seeds: int


def cluster_column(frame: pd.DataFrame) -> str:
    """The column that names each row's unit of resampling: `unit` when the frame has one, else `image_id`."""
    return "unit" if "unit" in frame.columns else "image_id"


def per_unit_means(frame: pd.DataFrame, value: str = "value") -> pd.Series:
    """Mean of `value` over each unit's rows (its images, prompts, sample seeds and training seeds), by unit."""
    if frame.empty:
        raise NoData("no score rows to average")
    return frame.groupby(cluster_column(frame), sort=True)[value].mean()


def _draws(n_units: int, config: BootstrapConfig) -> np.ndarray:
    """Indices of `n_boot` resamples of `n_units` units, with replacement (shape n_boot × n_units)."""
    rng = np.random.default_rng(config.seed)
    return rng.integers(0, n_units, size=(config.n_boot, n_units))


def _interval(boot: np.ndarray, per_image: np.ndarray, config: BootstrapConfig) -> tuple[float, float]:
    lo, hi = np.percentile(boot, config.percentiles)
    # Every resampled mean (and ratio of sums) lies between the smallest and largest per-image value; clipping only
    # removes float rounding, so that equal images give a CI of width exactly 0.
    lo = float(np.clip(lo, per_image.min(), per_image.max()))
    hi = float(np.clip(hi, per_image.min(), per_image.max()))
    return lo, hi


def bootstrap_mean(per_unit: np.ndarray | pd.Series, config: BootstrapConfig) -> tuple[float, float, float]:
    """Mean of per-unit values and its percentile-bootstrap CI from resampling units: (mean, lo, hi).

    One unit: every resample is that unit, so the CI degenerates to the point (lo == mean == hi).
    """
    values = np.asarray(per_unit, dtype=float)
    if values.size == 0:
        raise NoData("no units to bootstrap")
    if not np.isfinite(values).all():
        raise ValueError("per-unit values contain NaN or inf; drop the bad score rows first")
    boot = values[_draws(values.size, config)].mean(axis=1)
    lo, hi = _interval(boot, values, config)
    return float(values.mean()), lo, hi


def cluster_mean(frame: pd.DataFrame, config: BootstrapConfig, value: str = "value") -> Estimate:
    """Mean of per-unit means of `frame[value]` with a bootstrap CI over units (see the module docstring)."""
    means = per_unit_means(frame, value)
    mean, lo, hi = bootstrap_mean(means.to_numpy(), config)
    return Estimate(mean, lo, hi, n_images=frame["image_id"].nunique(), n_items=len(frame), n_units=len(means))


def match_items(a: pd.DataFrame, b: pd.DataFrame, keys: tuple[str, ...] = ITEM_KEYS) -> pd.DataFrame:
    """The items both frames have (inner join on `keys`), with columns `keys` + value_a, value_b.

    Each frame must hold one row per item (one metric, one task): a duplicate would pair rows many-to-many.
    """
    for name, frame in (("A", a), ("B", b)):
        if frame.duplicated(list(keys)).any():
            raise ValueError(f"method {name} has several rows for one item {keys}; filter to one metric and task")
    carried = ["unit"] if "unit" in a.columns and "unit" not in keys else []  # a function of the image: A's serves
    left = a[list(keys) + carried + ["value"]].rename(columns={"value": "value_a"})
    right = b[list(keys) + ["value"]].rename(columns={"value": "value_b"})
    return left.merge(right, on=list(keys), how="inner")


def paired_difference(
    a: pd.DataFrame, b: pd.DataFrame, config: BootstrapConfig, keys: tuple[str, ...] = ITEM_KEYS
) -> Estimate:
    """Mean of A − B over the units both have: per-unit mean of the item differences on matched items only,
    then a bootstrap over those units. `n_images`/`n_items`/`n_units` count the matched images/items/units."""
    pairs = match_items(a, b, keys)
    if pairs.empty:
        raise NoData("the two methods have no items in common")
    pairs["diff"] = pairs["value_a"] - pairs["value_b"]
    return cluster_mean(pairs, config, value="diff")


def metric_win_rate(
    a: pd.DataFrame, b: pd.DataFrame, config: BootstrapConfig, keys: tuple[str, ...] = ITEM_KEYS
) -> WinRate:
    """Metric win rate of A over B: the fraction of matched items where A's value is greater (exact ties count 1/2),
    pooled over items. CI: resample units, recompute the pooled fraction. A score comparison, not a preference."""
    pairs = match_items(a, b, keys)
    if pairs.empty:
        raise NoData("the two methods have no items in common")
    va, vb = pairs["value_a"].to_numpy(), pairs["value_b"].to_numpy()
    pairs["win"] = np.where(va > vb, 1.0, np.where(va == vb, 0.5, 0.0))
    per_unit = pairs.groupby(cluster_column(pairs), sort=True)["win"].agg(["sum", "count"])
    wins, counts = per_unit["sum"].to_numpy(), per_unit["count"].to_numpy().astype(float)
    idx = _draws(len(per_unit), config)
    boot = wins[idx].sum(axis=1) / counts[idx].sum(axis=1)
    lo, hi = _interval(boot, wins / counts, config)
    rate = float(wins.sum() / counts.sum())
    return WinRate(rate, lo, hi, n_images=pairs["image_id"].nunique(), n_items=len(pairs), n_units=len(per_unit))


def train_seed_spread(frame: pd.DataFrame, value: str = "value") -> SeedSpread:
    """Per training seed, the mean over units of per-unit means; their SD across seeds (ddof=1).

    A single training seed has no spread to measure: reported as sd 0.0 with n_train_seeds 1 (never NaN).
    """
    if frame.empty:
        raise NoData("no score rows for a seed spread")
    means = {
        int(seed): float(per_unit_means(rows, value).mean()) for seed, rows in frame.groupby("train_seed", sort=True)
    }
    values = np.array(list(means.values()))
    sd = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return SeedSpread(means, sd, n_train_seeds=len(means))
