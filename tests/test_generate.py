"""Generation: content/style/combined images from run folders, both combined modes, recombination across images."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import tiny_config
from unziplora.config import PromptSet, SampleConfig
from unziplora.generate import generate, load_run, official_prompts
from unziplora.lora.adapters import lora_layers
from unziplora.tiny import tiny_pipeline
from unziplora.train import train

FAST = dict(steps=3, resolution=32, num=2, batch_size=2, progress=False, device="cpu")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny pipeline and two trained runs: A = cat in sketch style, B = dog in watercolor style."""
    root = tmp_path_factory.mktemp("gen")
    pipe = tiny_pipeline(root / "tok", seed=0)
    image = Image.new("RGB", (40, 40), (200, 30, 30))
    for name, content, style in (("a", "cat", "sketch"), ("b", "dog", "watercolor")):
        prompts = PromptSet.from_names(content, style)
        train(pipe, image, prompts, tiny_config(method="unziplora", steps=6, columns={"tie_break": True}), root / name)
    return pipe, root


def _pixels(paths):
    return [np.asarray(Image.open(p)) for p in paths]


def test_generation_is_deterministic_for_a_seed_and_records_its_metadata(world, tmp_path):
    pipe, root = world
    run = [load_run(root / "a")]
    config = SampleConfig(kind="content", **FAST)
    first = generate(pipe, run, "A monadikos cat on a beach", config, tmp_path / "1")
    again = generate(pipe, run, "A monadikos cat on a beach", config, tmp_path / "2")
    other = generate(
        pipe, run, "A monadikos cat on a beach", SampleConfig(kind="content", **{**FAST, "seed": 5}), tmp_path / "3"
    )
    assert [p.name for p in first] == ["content-s0.png", "content-s1.png"]
    assert all(np.array_equal(x, y) for x, y in zip(_pixels(first), _pixels(again), strict=True))
    assert not np.array_equal(_pixels(first)[0], _pixels(first)[1])  # seed + i: the two images differ
    assert not np.array_equal(_pixels(first)[0], _pixels(other)[0])
    meta = Image.open(first[1]).text
    assert meta["prompt"] == "A monadikos cat on a beach" and meta["seed"] == "1"
    assert meta["method"] == "unziplora" and meta["kind"] == "content" and meta["mode"] == "single"
    assert meta["image_id"] == "a"  # the run folder's name (results/{method}/{image}/)
    assert json.loads(meta["unziplora"])["sampler"] == "euler"
    assert sorted(p.name for p in (tmp_path / "1").iterdir()) == ["content-s0.png", "content-s1.png", "generate.json"]
    assert not lora_layers(pipe.unet)  # the caller's pipeline is handed back without adapters


def test_both_combined_modes_run_and_differ(world, tmp_path):
    pipe, root = world
    run = [load_run(root / "a")]
    prompt = "A monadikos cat on a skateboard in sketch style"
    official = generate(pipe, run, prompt, SampleConfig(mode="official", **FAST), tmp_path / "o")
    addition = generate(pipe, run, prompt, SampleConfig(mode="addition", **FAST), tmp_path / "a")
    m_off, m_add = Image.open(official[0]).text, Image.open(addition[0]).text
    assert (m_off["mode"], m_off["sampler"], m_off["mergers"]) == ("official", "ddpm", "true")
    assert m_off["content_prompt"] == "A monadikos cat on a skateboard"
    assert m_off["style_prompt"] == "A cat on a skateboard in sketch style"
    assert (m_add["mode"], m_add["sampler"], m_add["mergers"]) == ("addition", "euler", "false")
    assert "content_prompt" not in m_add
    assert not np.array_equal(_pixels(official)[0], _pixels(addition)[0])
    # "auto" picks the official path for a prompt-separated method.
    auto = generate(pipe, run, prompt, SampleConfig(**{**FAST, "num": 1}), tmp_path / "auto")
    assert np.array_equal(_pixels(auto)[0], _pixels(official)[0])


def test_official_mode_really_separates_prompts_and_applies_mergers(world, tmp_path):
    """Not just DDPM vs Euler: with the sampler fixed, official ≠ addition (mergers, separated K/V), and the
    content-only prompt reaches the content LoRA."""
    pipe, root = world
    run = [load_run(root / "a")]
    prompt = "A monadikos cat on a skateboard in sketch style"
    euler = {**FAST, "num": 1, "sampler": "euler"}
    official = generate(pipe, run, prompt, SampleConfig(mode="official", **euler), tmp_path / "o")
    addition = generate(pipe, run, prompt, SampleConfig(mode="addition", **euler), tmp_path / "a")
    assert np.abs(_pixels(official)[0].astype(int) - _pixels(addition)[0].astype(int)).max() > 2
    other = generate(
        pipe, run, prompt, SampleConfig(mode="official", **euler), tmp_path / "c", content_prompt="A monadikos dog"
    )
    assert np.abs(_pixels(official)[0].astype(int) - _pixels(other)[0].astype(int)).max() > 2


def test_batch_size_does_not_change_which_image_a_seed_gives(world, tmp_path):
    pipe, root = world
    run = [load_run(root / "a")]
    prompt = "A monadikos cat in sketch style"
    one = generate(pipe, run, prompt, SampleConfig(**{**FAST, "num": 3, "batch_size": 1}), tmp_path / "one")
    three = generate(pipe, run, prompt, SampleConfig(**{**FAST, "num": 3, "batch_size": 3}), tmp_path / "three")
    for a, b in zip(_pixels(one), _pixels(three), strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # float rounding of batched matmuls only


def test_malformed_run_record_and_corrupt_lora_are_clear_errors(world, tmp_path):
    import shutil

    pipe, root = world
    bad = tmp_path / "bad"
    shutil.copytree(root / "a", bad)
    record = json.loads((bad / "run.json").read_text())
    (bad / "run.json").write_text(json.dumps({**record, "prompts": {"combined": "x"}}))
    with pytest.raises(ValueError, match="malformed prompts or files; re-run `unziplora decompose`"):
        load_run(bad)
    (bad / "run.json").write_text(json.dumps(record))
    (bad / "content.safetensors").write_bytes((bad / "content.safetensors").read_bytes()[:100])
    (bad / "content_merged.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="cannot load LoRA file .*content.*re-run `unziplora decompose`"):
        generate(
            pipe,
            [load_run(bad)],
            "A monadikos cat in sketch style",
            SampleConfig(**{**FAST, "num": 1}),
            tmp_path / "out",
        )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert not getattr(pipe.unet, "peft_config", None)  # the shared pipeline is handed back clean


def test_cross_image_recombination_uses_a_content_and_b_style(world, tmp_path):
    pipe, root = world
    a, b = load_run(root / "a"), load_run(root / "b")
    prompt = "A monadikos cat in watercolor style"
    cross = generate(pipe, [a, b], prompt, SampleConfig(mode="addition", **FAST), tmp_path / "ab")
    meta = json.loads(Image.open(cross[0]).text["unziplora"])
    assert meta["image_id"] == "a+b"
    assert meta["lora_files"] == {
        "content": str(root / "a/content.safetensors"),
        "style": str(root / "b/style.safetensors"),
    }
    # The same picture as a stock pipeline with A's content file and B's style file, summed by hand.
    stock = copy.deepcopy(pipe)
    stock.scheduler = type(stock.scheduler).from_config(stock.scheduler.config)
    stock.load_lora_weights(root / "a", weight_name="content.safetensors", adapter_name="content")
    stock.load_lora_weights(root / "b", weight_name="style.safetensors", adapter_name="style")
    stock.set_adapters(["content", "style"], adapter_weights=[1.0, 1.0])
    stock.set_progress_bar_config(disable=True)
    by_hand = stock(
        prompt,
        num_inference_steps=3,
        height=32,
        width=32,
        guidance_scale=5.0,
        generator=torch.Generator().manual_seed(0),
    ).images[0]
    assert np.abs(np.asarray(by_hand).astype(int) - _pixels(cross)[0].astype(int)).max() <= 1
    swapped = generate(pipe, [b, a], prompt, SampleConfig(mode="addition", **FAST), tmp_path / "ba")
    assert not np.array_equal(_pixels(swapped)[0], _pixels(cross)[0])
    # Official mode across images: the content prompt drops B's style phrase, the style prompt the token.
    assert official_prompts(prompt, a, b) == ("A monadikos cat", "A cat in watercolor style")
    with pytest.raises(ValueError, match="does not contain the style phrase"):
        official_prompts("A monadikos cat in sketch style", a, b)


def test_base_run_generates_with_the_bare_model(world, tmp_path, image):
    pipe, root = world
    train(pipe, image, PromptSet.from_names("cat", "sketch"), tiny_config(method="base"), tmp_path / "base")
    out = generate(pipe, [load_run(tmp_path / "base")], "A cat", SampleConfig(mode="addition", **FAST), tmp_path / "g")
    bare = copy.deepcopy(pipe)
    bare.set_progress_bar_config(disable=True)
    expected = bare("A cat", num_inference_steps=3, height=32, width=32, generator=torch.Generator().manual_seed(0))
    assert np.abs(np.asarray(expected.images[0]).astype(int) - _pixels(out)[0].astype(int)).max() <= 1
    assert json.loads(Image.open(out[0]).text["unziplora"])["lora_files"] == {}


def test_demo_trains_and_renders_the_baselines(tmp_path):
    from unziplora.demo import run_demo
    from unziplora.methods import METHODS, trained_methods

    # the demo's default: every trained standard method (not the variants pinned to SDXL's blocks)
    assert trained_methods() == [k for k, m in METHODS.items() if k != "base" and not m.variant_of]
    out = run_demo(tmp_path / "demo", steps=2, methods=["dreambooth_lora", "blora"])
    rows = (out / "summary.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == ["dreambooth_lora", "blora"]
    assert Image.open(out / "grid.png").size == (128 * 5, 20 + 128 * 2)


def test_sample_config_defaults_follow_the_spec_and_reject_bad_values():
    c = SampleConfig()
    assert (c.steps, c.guidance_scale, c.resolution, c.vae_precision, c.sampler) == (50, 5.0, 1024, "fp32", "auto")
    assert SampleConfig(seed=1000, num=3).seeds() == [1000, 1001, 1002]
    with pytest.raises(ValueError, match="mode must be one of"):
        SampleConfig(mode="sum")
    with pytest.raises(ValueError, match="num must be >= 1"):
        SampleConfig(num=0)


def test_generated_pngs_describe_themselves_to_the_metrics_scorer(world, tmp_path):
    """The PNG text keys `generate` writes are the ones `metrics.GeneratedImage` reads (the workflow relies on it)."""
    from metrics.score import GeneratedImage

    pipe, root = world
    prompt = "A monadikos cat in sketch style"
    paths = generate(pipe, [load_run(root / "a")], prompt, SampleConfig(mode="addition", **FAST), tmp_path / "g")
    items = [GeneratedImage.from_file(p) for p in paths]
    assert [i.seed for i in items] == [0, 1]
    item = items[0]
    assert (item.image_id, item.method, item.kind, item.mode, item.prompt) == (
        "a",
        "unziplora",
        "combined",
        "addition",
        prompt,
    )
