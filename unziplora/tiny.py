"""A tiny pipeline with SDXL's architecture, built from config in memory (no download).

Same component classes and module names as SDXL 1.0 (so `up_blocks.0.attentions.{0,1,2}` and
`up_blocks.1.attentions.*` exist and every name-based rule applies unchanged), at a size that trains in
milliseconds per step on a CPU. Used by the tests, the demo and the CPU benchmarks; the toy world starts from it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

#: SDXL's scheduler settings (scheduler/scheduler_config.json of the base model).
SDXL_SCHEDULER_CONFIG = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "interpolation_type": "linear",
    "use_karras_sigmas": False,
}

TEXT_WIDTH = 16  # hidden size of each tiny text encoder; the UNet's cross-attention width is twice that


def write_tokenizer_files(folder: Path) -> Path:
    """A character-level CLIP BPE vocabulary (every byte, with and without the end-of-word mark) and no merges."""
    folder.mkdir(parents=True, exist_ok=True)
    chars = _byte_symbols()
    tokens = ["<|startoftext|>", "<|endoftext|>"] + chars + [c + "</w>" for c in chars]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return folder


def _byte_symbols() -> list[str]:
    """The 256 printable symbols byte-level BPE uses for the bytes 0..255 (printable Latin-1 bytes stand for
    themselves, the others are shifted past 255)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    shifted = iter(range(256, 512))
    return [chr(b) if b in keep else chr(next(shifted)) for b in range(256)]


def tiny_tokenizer(folder: Path) -> CLIPTokenizer:
    """A CLIPTokenizer read from the vocabulary files written into `folder` (77 tokens, as SDXL's)."""
    write_tokenizer_files(folder)
    return CLIPTokenizer.from_pretrained(str(folder), model_max_length=77)


def tiny_unet(cross_attention_dim: int = 2 * TEXT_WIDTH, pooled_dim: int = TEXT_WIDTH) -> UNet2DConditionModel:
    """SDXL's UNet layout (block types, 2 layers per block, text_time conditioning) at a tiny width."""
    time_dim = 8
    return UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64, 64),
        layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 1, 1),
        attention_head_dim=(2, 4, 4),
        norm_num_groups=8,
        cross_attention_dim=cross_attention_dim,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=time_dim,
        projection_class_embeddings_input_dim=6 * time_dim + pooled_dim,
    )


def tiny_pipeline(tokenizer_dir: Path, seed: int = 0) -> StableDiffusionXLPipeline:
    """The whole tiny SDXL-architecture pipeline with seeded random weights (fp32, CPU)."""
    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer(Path(tokenizer_dir))
    text = dict(
        hidden_size=TEXT_WIDTH,
        intermediate_size=2 * TEXT_WIDTH,
        num_hidden_layers=2,
        num_attention_heads=2,
        vocab_size=tokenizer.vocab_size,
        max_position_embeddings=77,
        projection_dim=TEXT_WIDTH,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=8,
        sample_size=32,
        scaling_factor=0.13025,
    )
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(CLIPTextConfig(**text)),
        text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**text)),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=tiny_unet(),
        scheduler=EulerDiscreteScheduler(**SDXL_SCHEDULER_CONFIG),
    )
