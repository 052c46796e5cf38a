"""The scoring API: files in, rows out. Random-weight models of the real architectures (CLIP ViT-B/32, DINO ViT-S/16,
CSD ViT-L/14) go through the same loaders as released weights."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image, PngImagePlugin

from metrics.cli import main
from metrics.errors import MetricsError
from metrics.score import COLUMNS, GeneratedImage, Scorer, score_images, write_rows
from tests.metric_fixtures import offline_config


def _picture(seed: int, size=(96, 80)) -> Image.Image:
    g = torch.Generator().manual_seed(seed)
    arr = (torch.rand(size[1] // 8, size[0] // 8, 3, generator=g) * 255).to(torch.uint8).numpy()
    return Image.fromarray(arr).resize(size, Image.NEAREST)


def _save(img: Image.Image, path: Path, **text) -> Path:
    info = PngImagePlugin.PngInfo()
    for k, v in text.items():
        info.add_text(k, str(v))
    img.save(path, pnginfo=info)
    return path


@pytest.fixture(scope="session")
def scorer(tmp_path_factory, clip_dino_weights):
    """One scorer for the module: models load once per process, as in real use."""
    return Scorer(offline_config(tmp_path_factory.mktemp("scorer"), clip_dino_weights))


@pytest.fixture
def files(tmp_path):
    ref = _save(_picture(0), tmp_path / "input.png")
    gen = [
        _save(
            _picture(i), tmp_path / f"gen{i}.png", prompt=f"a cat number {i}", seed=i, method="unziplora", kind="style"
        )
        for i in range(1, 4)
    ]
    return ref, gen


def test_identical_image_scores_one_and_rows_carry_their_provenance(scorer, files, tmp_path):
    ref, gen = files
    same = _save(_picture(0), tmp_path / "same.png", prompt="a cat", seed=7, method="m", kind="content", image_id="x")
    rows = scorer.score([same, *gen], ref, ["clip_i", "dino", "clip_t"])
    assert list(rows.columns) == list(COLUMNS) and len(rows) == 3 * 4
    first = rows[rows.file == str(same)].set_index("metric")
    assert first.loc["clip_i", "value"] == pytest.approx(1.0, abs=1e-5)
    assert first.loc["dino", "value"] == pytest.approx(1.0, abs=1e-5)
    assert (first.loc["dino", "image_id"], first.loc["dino", "method"], first.loc["dino", "kind"]) == (
        "x",
        "m",
        "content",
    )
    assert first.loc["clip_t", "prompt"] == "a cat" and first.loc["clip_t", "seed"] == 7
    assert -1.0 <= first.loc["clip_t", "value"] <= 1.0 and first.loc["clip_t", "reference"] == "(prompt)"
    others = rows[(rows.file != str(same)) & (rows.metric != "clip_t")]
    assert (others.value < 1 - 1e-4).all()  # different pictures do not score 1
    assert set(rows.weights_repo) == {"local"} and rows.weights_revision.str.endswith(".safetensors").all()
    assert rows.value.notna().all()


def test_batched_and_one_by_one_scores_agree(scorer, files):
    ref, gen = files  # three images: batch 2 leaves a ragged last batch
    key = ["metric", "file"]
    singles = pd.concat([scorer.score([g], ref, ["clip_i", "dino"]) for g in gen]).sort_values(key)
    for batch_size in (2, 3):
        scorer.config.batch_size = batch_size
        try:
            batched = scorer.score(gen, ref, ["clip_i", "dino"]).sort_values(key)
        finally:
            scorer.config.batch_size = 16
        assert singles[key].reset_index(drop=True).equals(batched[key].reset_index(drop=True))
        np.testing.assert_allclose(singles.value, batched.value, atol=1e-5)


def test_cross_image_recombination_uses_each_aspects_reference(scorer, tmp_path):
    a = _save(_picture(10), tmp_path / "a.png")
    b = _save(_picture(20), tmp_path / "b.png")
    mix = _save(_picture(10), tmp_path / "mix.png")  # looks exactly like A
    rows = scorer.score([mix], {"content": a, "style": b}, ["clip_i", "dino"]).set_index("metric")
    assert rows.loc["dino", "value"] == pytest.approx(1.0, abs=1e-5) and rows.loc["dino", "reference"] == str(a)
    assert rows.loc["clip_i", "reference"] == str(b)
    direct = scorer.score([mix], b, ["clip_i"]).value.iloc[0]
    assert rows.loc["clip_i", "value"] == pytest.approx(direct, abs=1e-6) and direct < 1 - 1e-4
    with pytest.raises(MetricsError, match="no content reference"):
        scorer.score([mix], {"style": b}, ["dino"])


def test_reference_modes_and_sizes_are_handled(scorer, tmp_path):
    rgb = _picture(3, size=(64, 64))
    gen = _save(rgb, tmp_path / "gen.png")
    gray = rgb.convert("L")
    variants = {
        "rgba.png": rgb.convert("RGBA"),
        "palette.png": rgb.convert("P"),
        "gray16.png": Image.fromarray(np.asarray(gray).astype(np.uint16) * 257),
        "cmyk.jpg": rgb.convert("CMYK"),
        "big.png": rgb.resize((257, 257), Image.NEAREST),
    }
    for name, img in variants.items():
        img.save(tmp_path / name)
        value = scorer.score([gen], tmp_path / name, ["dino"]).value.iloc[0]
        assert math.isfinite(value) and value > 0.5, name
    # a 16-bit grayscale reference reads like its 8-bit version, not clipped to white
    _save(gray, tmp_path / "gray8.png")
    v16 = scorer.score([tmp_path / "gray8.png"], tmp_path / "gray16.png", ["dino"]).value.iloc[0]
    assert v16 == pytest.approx(1.0, abs=1e-5)
    # transparency is composited onto white
    clear = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    clear.save(tmp_path / "clear.png")
    _save(Image.new("RGB", (64, 64), "white"), tmp_path / "white.png")
    assert scorer.score([tmp_path / "white.png"], tmp_path / "clear.png", ["dino"]).value.iloc[0] == pytest.approx(
        1.0, abs=1e-5
    )


def test_bad_inputs_give_one_line_errors(scorer, files, tmp_path):
    ref, gen = files
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    cases = [
        (([], ref, ["clip_i"]), "no images to score"),
        (([tmp_path / "missing.png"], ref, ["clip_i"]), "missing.png does not exist"),
        (([tmp_path / "broken.png"], ref, ["clip_i"]), "cannot read image .*broken.png"),
        ((gen, tmp_path / "noref.png", ["clip_i"]), "noref.png does not exist"),
        ((gen, ref, ["fid"]), "unknown metric 'fid'"),
        (([_save(_picture(1), tmp_path / "nop.png")], ref, ["clip_t"]), "clip_t needs each image's prompt"),
    ]
    for args, message in cases:
        with pytest.raises((MetricsError, ValueError), match=message) as err:
            scorer.score(*args)
        assert "\n" not in str(err.value)


def test_png_metadata_fills_unset_fields(tmp_path):
    path = _save(
        _picture(1), tmp_path / "g.png", prompt="a dog", seed="1234", method="blora", kind="combined", mode="addition"
    )
    item = GeneratedImage.from_file(path, method="override")
    assert (item.prompt, item.seed, item.method, item.kind, item.mode) == (
        "a dog",
        1234,
        "override",
        "combined",
        "addition",
    )


def test_rows_write_as_csv_and_parquet(scorer, files, tmp_path):
    ref, gen = files
    rows = scorer.score(gen[:2], ref, ["dino"])
    for name in ("rows.csv", "rows.parquet"):
        out = write_rows(rows, tmp_path / "out" / name)
        back = pd.read_csv(out) if name.endswith(".csv") else pd.read_parquet(out)
        np.testing.assert_allclose(back.value, rows.value, atol=1e-9)
        assert list(back.columns) == list(COLUMNS)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["rows.csv", "rows.parquet"]  # no temp files left
    with pytest.raises(MetricsError, match="use a .csv or .parquet"):
        write_rows(rows, tmp_path / "rows.xlsx")


def test_csd_scores_with_the_converted_authors_checkpoint(tmp_path, csd_pickle):
    ref = _save(_picture(0), tmp_path / "input.png")
    other = _save(_picture(5), tmp_path / "other.png")
    config = offline_config(tmp_path, {"csd_vit_l.tomg": str(csd_pickle)})
    rows = score_images([ref, other], ref, ["csd_style", "csd_content"], config).set_index(["metric", "file"])
    assert rows.loc[("csd_style", str(ref)), "value"] == pytest.approx(1.0, abs=1e-5)
    assert rows.loc[("csd_content", str(ref)), "value"] == pytest.approx(1.0, abs=1e-5)
    assert rows.loc[("csd_style", str(other)), "value"] < 1 - 1e-6
    assert "failed experiment" in rows.loc[("csd_content", str(ref)), "caveat"]
    assert rows.loc[("csd_style", str(ref)), "caveat"] == ""


def test_cli_scores_files_and_fails_cleanly(tmp_path, files, clip_dino_weights, capsys):
    ref, gen = files
    weights = [f"--weights={k}={v}" for k, v in clip_dino_weights.items()]
    common = ["--offline", "--cache-dir", str(tmp_path / "c"), "--converted-dir", str(tmp_path / "conv")]
    out = tmp_path / "rows.csv"
    code = main(["score", *map(str, gen[:2]), "--reference", str(ref), "--metrics", "clip_i,dino", "--out", str(out),
                 "--device", "cpu", *weights, *common])  # fmt: skip
    assert code == 0 and len(pd.read_csv(out)) == 4
    assert "wrote 4 rows" in capsys.readouterr().out
    # no weights, no network: the error names the weights and the command that fetches them
    code = main(
        ["score", str(gen[0]), "--reference", str(ref), "--metrics", "dino", "--out", str(tmp_path / "x.csv"), *common]
    )
    err = capsys.readouterr().err
    assert code == 2 and "vit_small_patch16_224.dino" in err and "python -m metrics fetch" in err
    assert err.count("\n") == 1 and not (tmp_path / "x.csv").exists()
    assert main(["fetch", "--models", "vit_small_patch16_224.dino", *common]) == 2
