"""The toy base model: tokenizer and captions, the pretraining code on a tiny budget, and the committed artifact
(data/toy/base_model): it loads with the stock pipeline, has SDXL's block names, holds the rare tokens that no
pretraining caption uses, and on fixed seeds draws the requested shape and style (oracle-checked)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionXLPipeline
from transformers import CLIPTokenizer

from analysis.oracle import oracle_table
from analysis.stats import BootstrapConfig
from metrics.config import MetricConfig
from metrics.models import load_embedder
from metrics.registry import METRICS, MODELS
from metrics.score import Scorer
from toyworld.basemodel import (
    RARE_TOKENS,
    BaseModelShape,
    caption,
    draw_caption_kinds,
    pretraining_captions,
    vocabulary,
)
from toyworld.build import BASE_MODEL, ORACLES, build_base_model, load_oracles
from toyworld.pretrain import Pretraining, encode_captions, training_noise
from toyworld.quality import Sampling, classify, generate
from toyworld.render import HELD_OUT, render
from unziplora.methods import BLORA_CONTENT_BLOCK, BLORA_STYLE_BLOCK
from unziplora.pipelines import load_pipeline

TINY = BaseModelShape(vae_channels=(16, 16, 16), unet_channels=(16, 32, 32), unet_heads=(1, 2, 2), text_width=16,
                      text_layers=1)  # fmt: skip
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def committed():
    return load_pipeline(str(BASE_MODEL))


def test_every_world_word_is_one_token_and_no_pretraining_caption_holds_a_rare_token():
    tokenizer = CLIPTokenizer.from_pretrained(BASE_MODEL / "tokenizer")
    for word in vocabulary():
        assert len(tokenizer(f"a {word}").input_ids) == 4, word  # start, "a", the word, end
    rare = {tokenizer.convert_tokens_to_ids(t) for t in RARE_TOKENS}
    assert len(rare) == 2 and tokenizer.unk_token_id not in rare
    captions = pretraining_captions()
    seen_ids = {i for text in captions for i in tokenizer(text).input_ids}
    assert not rare & seen_ids
    assert tokenizer("A sks shape in zwx style").input_ids[2] in rare
    held_out = {caption(shape, style, "full") for shape, style in HELD_OUT}
    assert not held_out & set(captions)  # held-out pairs appear only through their parts


def test_the_committed_model_loads_with_the_stock_pipeline_and_has_sdxl_block_names():
    pipe = StableDiffusionXLPipeline.from_pretrained(BASE_MODEL, local_files_only=True)
    names = {name for name, _ in pipe.unet.named_modules()}
    for block in (BLORA_CONTENT_BLOCK, BLORA_STYLE_BLOCK, "up_blocks.0.attentions.2", "up_blocks.1.attentions.2",
                  "down_blocks.2.attentions.1", "mid_block.attentions.0"):  # fmt: skip
        assert f"{block}.transformer_blocks.0.attn2.to_k" in names, block
    assert pipe.vae_scale_factor == 4 and pipe.unet.config.sample_size == 16
    size = sum(f.stat().st_size for f in BASE_MODEL.rglob("*") if f.is_file())
    assert size < 16 * 2**20  # "a few MB on disk"


def test_the_committed_model_draws_the_requested_shape_and_style_on_fixed_seeds(committed):
    pairs = [("circle", "solid"), ("square", "dots"), ("star", "checker"), ("heart", "gradient"),
             ("ring", "watercolour"), ("diamond", "sketch")]  # fmt: skip
    requested = [pair for pair in pairs for _ in range(2)]
    prompts = [caption(shape, style, "full") for shape, style in requested]
    images = generate(committed, prompts, list(range(len(prompts))), Sampling(), CPU, progress=False)
    predicted = classify(load_oracles(ORACLES), images)
    seen = zip(predicted["shape"], predicted["style"], requested, strict=True)
    right = [s == shape and t == style for s, t, (shape, style) in seen]
    assert sum(right) >= 10, list(zip(requested, predicted["shape"], predicted["style"], strict=True))


def test_offset_noise_moves_each_latents_mean_and_plain_noise_barely_does():
    shape = torch.Size((512, 4, 16, 16))
    plain = training_noise(shape, 0.0, torch.Generator().manual_seed(0))
    offset = training_noise(shape, 0.3, torch.Generator().manual_seed(0))
    # Per sample and channel, the mean of 256 standard values has std 1/16; the offset adds 0.3 on top.
    assert plain.mean(dim=(2, 3)).std() == pytest.approx(1 / 16, rel=0.1)
    assert offset.mean(dim=(2, 3)).std() == pytest.approx((0.3**2 + 1 / 256) ** 0.5, rel=0.1)
    assert torch.equal(offset, training_noise(shape, 0.3, torch.Generator().manual_seed(0)))


def test_pretraining_on_a_tiny_budget_writes_a_loadable_pipeline_and_its_record(tmp_path):
    config = Pretraining(shape=TINY, images=48, vae_steps=3, vae_batch_size=4, unet_steps=3, unet_batch_size=4,
                         warmup_steps=1)  # fmt: skip
    sampling = Sampling(per_pair=1, steps=2, batch_size=64)
    record = build_base_model(tmp_path / "model", config, CPU, ORACLES, sampling, progress=False)
    pipe = load_pipeline(str(tmp_path / "model"))
    assert pipe.vae.config.scaling_factor != 0.18215 and np.isfinite(pipe.vae.config.scaling_factor)
    saved = json.loads((tmp_path / "model" / "pretraining.json").read_text())
    assert saved["seconds"]["total"] > 0 and saved["versions"]["diffusers"] and saved["seed"] == 0
    assert len(saved["unet_loss"]["curve"]) == 3 and np.isfinite(saved["unet_loss"]["last"])
    quality = record["quality"]
    assert quality["seen"]["images"] == 56 and quality["held_out"]["images"] == len(HELD_OUT)
    assert np.sum(quality["seen"]["confusion"]["shape"]) == 56 and 0 <= quality["seen"]["both"] <= 1
    assert not list((tmp_path / "model").glob(".staging-*"))


def test_a_missing_oracle_folder_stops_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="lacks shape.safetensors, style.safetensors"):
        build_base_model(tmp_path / "model", Pretraining(shape=TINY), CPU, tmp_path / "nowhere")
    assert not (tmp_path / "model").exists()


def test_caption_dropout_is_the_pipelines_zero_unconditional_input(committed):
    kinds = draw_caption_kinds(200, {"full": 1, "empty": 1}, np.random.default_rng(0))
    assert set(kinds) == {"full", "empty"} and 70 < kinds.count("empty") < 130
    embeds, pooled = encode_captions(committed, ["", "a circle"], CPU)
    negative = committed.encode_prompt("a circle", device=CPU, do_classifier_free_guidance=True)
    assert torch.equal(embeds[0], negative[1][0]) and torch.equal(pooled[0], negative[3][0])
    assert embeds[0].abs().sum() == 0 and embeds[1].abs().sum() > 0


def test_the_oracle_metrics_are_a_registry_family_whose_features_see_their_own_aspect():
    assert METRICS["oracle_content"].aspect == "content" and METRICS["oracle_style"].aspect == "style"
    config = MetricConfig(device="cpu")
    images = [render("star", "stripes", 1), render("star", "dots", 2), render("heart", "stripes", 3)]
    for metric, same, other in (("oracle_content", 1, 2), ("oracle_style", 2, 1)):
        embedder = load_embedder(MODELS[METRICS[metric].model], config)
        assert embedder.weights.repo == "project"
        features = embedder.embed_images(torch.stack([embedder.preprocess(im) for im in images]))["features"]
        # image 0 shares its shape with image 1 and its style with image 2
        assert features[0] @ features[same] > features[0] @ features[other], metric


def test_the_right_columns_on_rendered_images_count_the_references_shape_and_style(tmp_path):
    """shape_right / style_right on hand-made (rendered) images with known factors: 1 where the factor is the
    reference's, 0 elsewhere, and a two-reference mapping scores shape against one image and style against another."""
    files = {}
    for name, (shape, style, seed) in {"ref": ("star", "stripes", 1), "same_shape": ("star", "dots", 2),
                                       "same_style": ("heart", "stripes", 3), "neither": ("ring", "checker", 4),
                                       "both": ("star", "stripes", 5)}.items():  # fmt: skip
        files[name] = tmp_path / f"{name}.png"
        render(shape, style, seed).save(files[name])
    order = ["same_shape", "same_style", "neither", "both"]
    scorer = Scorer(MetricConfig(device="cpu"))
    rows = scorer.score([files[n] for n in order], files["ref"], ["shape_right", "style_right"])
    got = rows.pivot(index="file", columns="metric", values="value").loc[[str(files[n]) for n in order]]
    assert got["shape_right"].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert got["style_right"].tolist() == [0.0, 1.0, 0.0, 1.0]
    crossed = scorer.score([files["same_style"]], {"content": files["same_shape"], "style": files["neither"]},
                           ["shape_right", "style_right"])  # fmt: skip
    assert crossed.set_index("metric")["value"].to_dict() == {"shape_right": 0.0, "style_right": 0.0}
    crossed = scorer.score([files["both"]], {"content": files["same_shape"], "style": files["same_style"]},
                           ["shape_right", "style_right"])  # fmt: skip
    assert crossed.set_index("metric")["value"].to_dict() == {"shape_right": 1.0, "style_right": 1.0}


def test_the_oracle_table_on_rendered_outputs_gives_the_columns_their_known_values(tmp_path):
    """Rendered (not generated) images with known factors, laid out as one method's outputs for one input image
    (a star in stripes), scored by the committed oracles and tabulated: every oracle column takes its known value."""
    outputs = {  # (kind, mode, prompt) → the rendered output's (shape, style)
        ("content", "single", "A sks shape"): ("star", "dots"),  # shape right, no style leak
        ("content", "single", "A sks shape in checker style"): ("heart", "stripes"),  # shape wrong, style leaks
        ("style", "single", "A circle in zwx style"): ("star", "stripes"),  # style right, the shape leaks
        ("combined", "official", "A sks shape in zwx style"): ("star", "stripes"),  # both right
        ("combined", "addition", "A sks shape in zwx style"): ("ring", "checker"),  # neither
    }
    ref = tmp_path / "ref.png"
    render("star", "stripes", 1).save(ref)
    files = []
    for i, (shape, style) in enumerate(outputs.values()):
        files.append(tmp_path / f"{i}.png")
        render(shape, style, 10 + i).save(files[-1])
    scores = Scorer(MetricConfig(device="cpu")).score(files, ref, ["shape_right", "style_right"])
    meta = {str(f): key for f, key in zip(files, outputs, strict=True)}
    scores["kind"], scores["mode"], scores["prompt"] = zip(*scores["file"].map(meta), strict=True)
    frame = scores.assign(
        image_id="bind_star_stripes", content_image="bind_star_stripes", style_image="bind_star_stripes",
        method="unziplora", train_seed=0, task="decomposition", prompt_id=scores["prompt"], seed=0, caveat="",
    )  # fmt: skip
    truth = {"bind_star_stripes": {"shape": "star", "style": "stripes"}}
    rows, _ = oracle_table(frame, truth, BootstrapConfig(n_boot=20, seed=0))
    got = {r["mode"]: r for r in rows}
    for mode, joint in (("official", 1.0), ("addition", 0.0)):
        row = got[mode]
        assert (row["content_fidelity_mean"], row["style_leakage_mean"]) == (0.5, 0.5), mode
        assert (row["style_fidelity_mean"], row["content_leakage_mean"]) == (1.0, 1.0), mode
        assert row["joint_fidelity_mean"] == joint, mode
