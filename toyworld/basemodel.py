"""The toy world's base model: a `StableDiffusionXLPipeline` of SDXL's architecture sized to 64×64 shape-and-style
images, its tokenizer over the world's vocabulary and its pretraining captions.

Same classes and module names as SDXL 1.0 (`up_blocks.0.attentions.{0,1,2}`, `up_blocks.1.attentions.*`, two CLIP
text encoders, text_time conditioning), so every block rule of UnZipLoRA and B-LoRA applies unchanged; the VAE
downsamples 4× (SDXL: 8×) so 64-px patterns keep 16×16 latents. The text encoders are random and frozen, as SDXL's
are during LoRA training; only the VAE and the UNet are trained (`toyworld.pretrain`).

    pipe = new_pipeline(BaseModelShape(), tokenizer_dir, seed=0)     # random weights, ready to pretrain
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from toyworld.render import KNOWN_SHAPES, KNOWN_STYLES, SIZE, pretraining_pairs
from unziplora.tiny import SDXL_SCHEDULER_CONFIG, write_tokenizer_files

RARE_TOKENS = ("sks", "zwx")  # the paper's identifier tokens: in the tokenizer, never in a pretraining caption
GENERIC_WORDS = ("a", "an", "in", "shape", "style", "image")
CAPTION_KINDS = ("full", "shape", "style", "image_style", "empty")


@dataclass(frozen=True)
class BaseModelShape:
    """Widths of the toy pipeline's parts (the architecture, not the training)."""

    vae_channels: tuple[int, ...] = (32, 64, 64)  # 3 blocks: 4× downsampling, 64 px → 16×16×4 latents
    unet_channels: tuple[int, ...] = (32, 64, 64)  # 2.7 M parameters: ~85 images/s of training on 2 CPU cores
    unet_heads: tuple[int, ...] = (1, 2, 2)  # SDXL's "attention_head_dim" (really the number of heads)
    text_width: int = 64  # each text encoder; the UNet's cross-attention width is twice that (SDXL: 768 + 1280)
    text_layers: int = 2


def vocabulary() -> tuple[str, ...]:
    """Every word the tokenizer holds as one token: the known factors, the caption words and the rare tokens."""
    return (*GENERIC_WORDS, *KNOWN_SHAPES, *KNOWN_STYLES, *RARE_TOKENS)


def world_tokenizer(folder: Path) -> CLIPTokenizer:
    """A CLIP tokenizer whose vocabulary is the byte-level alphabet plus one token per world word (77 tokens, as
    SDXL's), so "a sks shape" is three tokens and "sks" shares nothing with any pretraining word."""
    write_tokenizer_files(Path(folder))
    tokenizer = CLIPTokenizer.from_pretrained(str(folder), model_max_length=77)
    tokenizer.add_tokens(list(vocabulary()))
    return tokenizer


def caption(shape: str, style: str, kind: str) -> str:
    """One pretraining caption of an image of `shape` in `style` ("" for caption dropout)."""
    return {
        "full": f"a {shape} in {style} style",
        "shape": f"a {shape}",
        "style": f"a shape in {style} style",
        "image_style": f"an image in {style} style",
        "empty": "",
    }[kind]


def pretraining_captions() -> list[str]:
    """Every distinct caption pretraining can show the model (held-out pairs included only through their parts)."""
    captions = {caption(shape, style, kind) for shape, style in pretraining_pairs() for kind in CAPTION_KINDS}
    return sorted(captions)


def draw_caption_kinds(n: int, weights: dict[str, float], rng: np.random.Generator) -> list[str]:
    """`n` caption kinds drawn with the given weights (normalised; e.g. 10% "empty" is the caption dropout that
    classifier-free guidance needs)."""
    kinds = list(CAPTION_KINDS)
    p = np.array([weights.get(k, 0.0) for k in kinds], dtype=float)
    return [kinds[i] for i in rng.choice(len(kinds), size=n, p=p / p.sum())]


def new_vae(shape: BaseModelShape) -> AutoencoderKL:
    """A small AutoencoderKL (4 latent channels, as SDXL); its scaling factor is set after training."""
    n = len(shape.vae_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=shape.vae_channels,
        layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        norm_num_groups=16,
        sample_size=SIZE,
        mid_block_add_attention=False,  # 16×16 latents: convolutions see the whole object already
    )


def new_unet(shape: BaseModelShape) -> UNet2DConditionModel:
    """SDXL's UNet layout (block types and names, 2 layers per down block, text_time conditioning) at toy width."""
    time_dim = 16
    latent = SIZE // 2 ** (len(shape.vae_channels) - 1)
    return UNet2DConditionModel(
        sample_size=latent,
        in_channels=4,
        out_channels=4,
        block_out_channels=shape.unet_channels,
        layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 1, 1),
        attention_head_dim=shape.unet_heads,
        norm_num_groups=16,
        cross_attention_dim=2 * shape.text_width,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=time_dim,
        projection_class_embeddings_input_dim=6 * time_dim + shape.text_width,
    )


def new_text_encoders(shape: BaseModelShape, vocab_size: int) -> tuple[CLIPTextModel, CLIPTextModelWithProjection]:
    """Both CLIP text encoders with random weights. Token embeddings are drawn at unit scale (CLIP's init is 0.02)
    because they are never trained: the UNet's cross-attention should see words of the same size as its features."""
    config = CLIPTextConfig(
        hidden_size=shape.text_width,
        intermediate_size=4 * shape.text_width,
        num_hidden_layers=shape.text_layers,
        num_attention_heads=4,
        vocab_size=vocab_size,
        max_position_embeddings=77,
        projection_dim=shape.text_width,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    encoders = CLIPTextModel(config), CLIPTextModelWithProjection(config)
    for encoder in encoders:
        torch.nn.init.normal_(encoder.get_input_embeddings().weight, std=1.0)
        encoder.requires_grad_(False)
    return encoders


def new_pipeline(shape: BaseModelShape, tokenizer_dir: Path, seed: int = 0) -> StableDiffusionXLPipeline:
    """The untrained toy pipeline (fp32, CPU), every weight drawn from `seed`."""
    torch.manual_seed(seed)
    tokenizer = world_tokenizer(tokenizer_dir)
    text_encoder, text_encoder_2 = new_text_encoders(shape, len(tokenizer))
    return StableDiffusionXLPipeline(
        vae=new_vae(shape),
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=new_unet(shape),
        scheduler=EulerDiscreteScheduler(**SDXL_SCHEDULER_CONFIG),
        force_zeros_for_empty_prompt=True,  # the unconditional input is zeros, as pretraining's caption dropout
    )
