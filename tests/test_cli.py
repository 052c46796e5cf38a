"""The `unziplora` CLI end to end on a tiny pipeline folder, and every bad input: one line, non-zero, no output."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib

import pytest
import torch
from PIL import Image

from unziplora.cli import build_parser, main
from unziplora.images import load_image
from unziplora.tiny import tiny_pipeline

PROMPT = "A monadikos cat on a beach in sketch style"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny pipeline folder (save_pretrained), a 16-bit grayscale input image and one trained run."""
    root = tmp_path_factory.mktemp("cli")
    tiny_pipeline(root / "tok", seed=0).save_pretrained(root / "model")
    x = torch.linspace(0, 65535, 72).round().to(torch.int32)
    Image.fromarray((x[None, :] * torch.ones(64, 1, dtype=torch.int32)).numpy().astype("uint16")).save(root / "g16.png")
    args = ["decompose", root / "g16.png", "--content", "cat", "--style", "sketch", "--model", root / "model"]
    assert main([str(a) for a in [*args, "--out", root / "run", "--steps", "6", "--resolution", "32"]]) == 0
    return root


def _cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _fails(capsys, match: str, *argv, out=None):
    rc, _, err = _cli(capsys, *argv)
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc != 0 and len(lines) == 1, err
    assert lines[0].startswith("unziplora: error: ") and match in lines[0], lines[0]
    if out is not None:
        assert not out.exists(), "a failed command left its output folder behind"


def test_decompose_then_generate_end_to_end(files, capsys, tmp_path):
    record = json.loads((files / "run" / "run.json").read_text())
    assert (
        record["method"] == "unziplora" and record["config"]["steps"] == 6 and record["model"] == str(files / "model")
    )
    assert {"content.safetensors", "style.safetensors", "run.json"} <= {p.name for p in (files / "run").iterdir()}
    rc, out, _ = _cli(capsys, "decompose", files / "g16.png", "--content", "cat", "--style", "sketch",
                      "--model", files / "model", "--out", tmp_path / "bl", "--method", "blora", "--steps", "2",
                      "--resolution", "32", "--device", "cpu")  # fmt: skip
    assert rc == 0 and "blora: wrote content.safetensors, style.safetensors, run.json" in out
    rc, out, _ = _cli(capsys, "generate", "--lora", files / "run", "--prompt", PROMPT, "--out", tmp_path / "g",
                      "--num", "2", "--steps", "2", "--resolution", "32")  # fmt: skip
    assert rc == 0 and sorted(p.name for p in (tmp_path / "g").iterdir()) == [
        "combined-official-s0.png", "combined-official-s1.png", "generate.json"]  # fmt: skip
    # Content of the UnZipLoRA run with the style of the B-LoRA run.
    rc, _, _ = _cli(capsys, "generate", "--lora", files / "run", "--lora", tmp_path / "bl", "--prompt", PROMPT,
                    "--out", tmp_path / "x", "--num", "1", "--steps", "2", "--resolution", "32", "--mode", "addition",
                    "--seed", "7")  # fmt: skip
    meta = json.loads(Image.open(tmp_path / "x" / "combined-addition-s7.png").text["unziplora"])
    assert meta["method"] == "unziplora+blora" and meta["mode"] == "addition" and meta["seed"] == 7
    assert meta["lora_files"]["style"] == str(tmp_path / "bl" / "style.safetensors")
    assert meta["lora_files"]["content"] == str(files / "run" / "content.safetensors")


def test_methods_and_help_are_complete(capsys):
    assert _cli(capsys, "methods")[0] == 0
    out = subprocess.run([sys.executable, "-m", "unziplora", "methods"], capture_output=True, text=True, check=True)
    for key in ("unziplora", "dreambooth_lora", "blora", "base", "joint"):
        assert key in out.stdout
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    assert set(sub) == {"methods", "decompose", "generate", "demo"}
    common = ["--out", "--model", "--steps", "--resolution", "--seed", "--device"]
    for name, flags in {
        "decompose": ["--content", "--style", "--method", *common],
        "generate": ["--lora", "--prompt", "--num", "--kind", "--mode", "--guidance", *common],
    }.items():
        text = sub[name].format_help()
        assert all(f in text for f in flags), name
        assert all(a.help for a in sub[name]._actions), f"{name}: an option without help text"


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims `width`×`height` (no pixel data needed to trip the size guard)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


def test_every_bad_decompose_input_fails_in_one_line_and_leaves_nothing(files, capsys, tmp_path, monkeypatch):
    good = files / "g16.png"
    Image.new("RGB", (1, 1)).save(tmp_path / "tiny.png")
    (tmp_path / "huge.png").write_bytes(_png_header(30000, 30000))
    (tmp_path / "notes.txt").write_text("not an image")
    Image.new("RGB", (64, 64), (9, 9, 9)).save(tmp_path / "full.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "full.png").read_bytes()[:60])
    (tmp_path / "adir.png").mkdir()
    (tmp_path / "nomodel").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model_index.json").write_text('{"_class_name": "StableDiffusionXLPipeline", "unet": ')
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "run.json").write_text("{}")
    out = tmp_path / "out"

    def dec(image=good, content="cat", style="sketch", **extra):
        argv = ["decompose", image, "--content", content, "--style", style, "--model", files / "model"]
        return [*argv, *[x for k, v in extra.items() for x in (f"--{k}", v)], "--out", extra.get("out_", out)]

    _fails(capsys, "does not exist", *dec(image=tmp_path / "missing.png"), out=out)
    _fails(capsys, "is not a readable file", *dec(image=tmp_path / "adir.png"), out=out)
    _fails(capsys, "cannot read image", *dec(image=tmp_path / "notes.txt"), out=out)
    _fails(capsys, "cannot read image", *dec(image=tmp_path / "cut.png"), out=out)
    _fails(capsys, "1×1 pixels", *dec(image=tmp_path / "tiny.png"), out=out)
    _fails(capsys, "too large", *dec(image=tmp_path / "huge.png"), out=out)
    _fails(capsys, "must be non-empty", *dec(content=" "), out=out)
    _fails(capsys, "must be non-empty", *dec(style=""), out=out)
    _fails(capsys, "unknown method 'zip'", *dec(method="zip"), out=out)
    _fails(capsys, "model folder", *dec(model=tmp_path / "nope"), out=out)
    _fails(capsys, "no model_index.json", *dec(model=tmp_path / "nomodel"), out=out)
    _fails(capsys, "incomplete or corrupt", *dec(model=tmp_path / "broken"), out=out)
    _fails(capsys, "already holds results", *[a for a in dec()[:-1]], tmp_path / "full")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["run.json"]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    _fails(capsys, "HF_HUB_OFFLINE is set", *dec(model="someone/sdxl-that-is-not-cached"), out=out)


def test_a_run_that_fails_midway_leaves_no_lora_file(files, capsys, tmp_path):
    pipe = tiny_pipeline(tmp_path / "tok", seed=0)
    with torch.no_grad():
        pipe.unet.conv_out.bias.fill_(float("nan"))
    pipe.save_pretrained(tmp_path / "nan_model")
    out = tmp_path / "out"
    _fails(capsys, "no LoRA was written", "decompose", files / "g16.png", "--content", "cat", "--style", "sketch",
           "--model", tmp_path / "nan_model", "--out", out, "--steps", "6", "--resolution", "32", out=out)  # fmt: skip


def test_every_bad_generate_input_fails_in_one_line(files, capsys, tmp_path):
    (tmp_path / "norun").mkdir()
    (tmp_path / "badrun").mkdir()
    (tmp_path / "badrun" / "run.json").write_text("{not json")
    out = tmp_path / "out"
    base = ["generate", "--prompt", PROMPT, "--out", out, "--steps", "1", "--resolution", "32"]
    _fails(capsys, "does not exist", *base, "--lora", tmp_path / "missing", out=out)
    _fails(capsys, "has no run.json", *base, "--lora", tmp_path / "norun", out=out)
    _fails(capsys, "is unreadable", *base, "--lora", tmp_path / "badrun", out=out)
    _fails(capsys, "at most two", *base, *["--lora", files / "run"] * 3, out=out)
    _fails(capsys, "prompt is empty", "generate", "--lora", files / "run", "--prompt", " ", "--out", out, out=out)
    no_style = ["generate", "--prompt", "A monadikos cat", *base[3:], "--lora", files / "run"]
    _fails(capsys, "does not contain the style phrase", *no_style, out=out)
    _fails(capsys, "already holds results", *base[:4], files, *base[5:], "--lora", files / "run")


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "RGBA", "I;16", "LA"])
def test_odd_image_modes_load_from_disk(tmp_path, mode):
    image = Image.new("RGB", (70, 64), (30, 140, 250)).convert(mode)
    path = tmp_path / ("x.jpg" if mode == "CMYK" else "x.png")
    image.save(path)
    loaded = load_image(path)
    assert loaded.mode == "RGB" and loaded.size == (70, 64)
