"""The metric registry as data: consistent entries, preprocessing equal to the reference transforms, CSD keys."""

from __future__ import annotations

import open_clip
import pytest
import torch
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, create_transform

from metrics.config import MetricConfig
from metrics.csd import csd_state_shapes
from metrics.models import build_transform
from metrics.registry import CLIP_MEAN, CLIP_STD, METRICS, MODELS, PAPER_METRICS, get_metric


def test_every_metric_names_a_model_head_and_aspect():
    for key, m in METRICS.items():
        assert m.key == key
        assert m.head in MODELS[m.model].heads, key
        assert m.aspect in ("style", "content", "text")
    assert PAPER_METRICS == ("clip_i", "dino", "csd_style", "csd_content")
    assert "failed experiment" in METRICS["csd_content"].caveat and not METRICS["csd_style"].caveat
    with pytest.raises(ValueError, match="unknown metric 'fid'.*clip_i"):
        get_metric("fid")


def test_normalisation_constants_are_the_libraries_and_csd_authors():
    assert CLIP_MEAN == open_clip.constants.OPENAI_DATASET_MEAN and CLIP_STD == open_clip.constants.OPENAI_DATASET_STD
    # CSD/loss_utils.py (learn2phoenix/CSD@3a9df32) normalises with these literals.
    assert MODELS["csd_vit_l.tomg"].preprocess.mean == (0.48145466, 0.4578275, 0.40821073)
    assert MODELS["csd_vit_l.tomg"].preprocess.std == (0.26862954, 0.26130258, 0.27577711)
    dino = MODELS["vit_small_patch16_224.dino"].preprocess
    assert (dino.mean, dino.std) == (IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)


def _odd_image() -> Image.Image:
    g = torch.Generator().manual_seed(1)
    return Image.fromarray((torch.rand(173, 301, 3, generator=g) * 255).to(torch.uint8).numpy())


def test_clip_transform_equals_open_clips_eval_transform():
    ours = build_transform(MODELS["ViT-B-32-quickgelu.openai"].preprocess)
    ref = open_clip.image_transform(224, is_train=False, mean=CLIP_MEAN, std=CLIP_STD)
    a, b = ours(_odd_image()), ref(_odd_image())
    assert a.shape == (3, 224, 224)
    assert torch.equal(a, b)


def test_dino_transform_equals_timms_256_to_224_transform():
    ours = build_transform(MODELS["vit_small_patch16_224.dino"].preprocess)
    ref = create_transform(
        input_size=224,
        interpolation="bicubic",
        crop_pct=224 / 256,
        mean=IMAGENET_DEFAULT_MEAN,
        std=IMAGENET_DEFAULT_STD,
    )
    assert torch.allclose(ours(_odd_image()), ref(_odd_image()), atol=1e-6)


def test_csd_key_list_matches_open_clips_vit_l14_visual_tower():
    """The transcribed CSD keys = open_clip ViT-L-14 `.visual` minus `proj`, plus two heads of `proj`'s shape."""
    with torch.device("meta"):
        visual = open_clip.create_model("ViT-L-14-quickgelu", pretrained=None, device="meta").visual
    reference = {f"backbone.{k}": tuple(v.shape) for k, v in visual.state_dict().items() if k != "proj"}
    reference |= {"last_layer_style": tuple(visual.proj.shape), "last_layer_content": tuple(visual.proj.shape)}
    assert csd_state_shapes() == reference
    assert len(reference) == 297  # 295 backbone tensors + 2 heads


def test_metric_config_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"unknown metric_options option\(s\)"):
        MetricConfig.from_dict({"batchsize": 4})
    with pytest.raises(ValueError, match="unknown model 'ViT-H'"):
        MetricConfig(models={"clip_i": "ViT-H"})
    with pytest.raises(ValueError, match="unknown metric model 'dinov2'"):
        MetricConfig(weights={"dinov2": "/x"})
    assert (
        MetricConfig(models={"clip_i": "ViT-L-14-quickgelu.openai"}).model_for("clip_i") == "ViT-L-14-quickgelu.openai"
    )


def test_clip_t_follows_a_clip_i_override_unless_set_itself():
    l14 = "ViT-L-14-quickgelu.openai"
    assert MetricConfig().model_for("clip_t") == "ViT-B-32-quickgelu.openai"
    assert MetricConfig(models={"clip_i": l14}).model_for("clip_t") == l14
    b32 = "ViT-B-32-quickgelu.openai"
    assert MetricConfig(models={"clip_i": l14, "clip_t": b32}).model_for("clip_t") == b32
