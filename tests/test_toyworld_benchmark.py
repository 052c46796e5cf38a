"""The toy benchmark's two tiers: sizes, ground truth, and their relation to what pretraining saw."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from toyworld.basemodel import pretraining_captions
from toyworld.benchmark import benchmark_images, spread, tier_pairs, write_sheet
from toyworld.build import ORACLES, load_oracles
from toyworld.quality import classify
from toyworld.render import KNOWN_SHAPES, KNOWN_STYLES, pretraining_pairs
from unziplora.dataset import sha256_of

SHEET = Path(__file__).resolve().parents[1] / "data" / "toy" / "benchmark" / "images.tsv"


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


def test_the_committed_sheet_holds_the_renders_with_their_checksums_and_truth_the_oracles_agree_with():
    """data/toy/benchmark (python -m toyworld benchmark) is what the toy presets train on: its PNGs are the
    renderer's pixels, its checksums theirs, and the oracles read every image's true shape and style (so the toy
    tables' "right" columns, which compare with the oracles' reading of the input, compare with the truth)."""
    sheet = pd.read_csv(SHEET, sep="\t", dtype=str, keep_default_na=False).set_index("id")
    items = {i.id: i for i in benchmark_images(per_pair=2)}
    assert list(sheet.index) == list(items)
    images = []
    for image_id, row in sheet.iterrows():
        item, path = items[image_id], SHEET.parent / image_id / row["train_file"]
        assert (row["tier"], row["true_shape"], row["true_style"]) == (item.tier, item.shape, item.style)
        assert row["pair"] == f"{item.tier}_{item.shape}_{item.style}" == image_id.rsplit("_", 1)[0]
        assert (row["content"], row["style"]) == ("shape", "zwx") and sha256_of(path) == row["sha256"]
        images.append(np.asarray(Image.open(path).convert("RGB")))
        assert np.array_equal(images[-1], np.asarray(item.render())), image_id
    predicted = classify(load_oracles(ORACLES), np.stack(images))
    assert predicted["shape"] == sheet["true_shape"].tolist() and predicted["style"] == sheet["true_style"].tolist()


def test_write_sheet_writes_the_sheet_and_drops_images_it_no_longer_lists(tmp_path):
    write_sheet(tmp_path, per_pair=2)
    assert len(list(tmp_path.glob("*_1"))) == 17
    write_sheet(tmp_path, per_pair=1)
    rows = (tmp_path / "images.tsv").read_text().splitlines()
    assert len(rows) == 18 and not list(tmp_path.glob("*_1")) and not list(tmp_path.glob(".staging-*"))
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == sorted(r.split("\t")[0] for r in rows[1:])
