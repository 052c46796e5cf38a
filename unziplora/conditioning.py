"""Everything the UNet is conditioned on, computed once before training (spec §1.2, §1.5):
the prompt embeddings (and pooled embeddings), SDXL's time ids and the image's latent distribution. Text encoders
and VAE are frozen, so caching them is exact and frees them from the training device."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch
from diffusers import StableDiffusionXLPipeline

from unziplora.config import PromptSet


@dataclass
class Conditioning:
    """Cached inputs of one training image, keyed by prompt name ("combined", "content", "style", "token", ...).

    Embeddings are 1×77×D, pooled embeddings 1×P; latents are the VAE posterior's mean/std.
    """

    embeds: dict[str, torch.Tensor]
    pooled: dict[str, torch.Tensor]  # the run's main prompt supplies it (the official code ignores the others')
    time_ids: torch.Tensor  # (orig_h, orig_w, crop_top, crop_left, target_h, target_w)
    latent_mean: torch.Tensor
    latent_std: torch.Tensor
    scaling_factor: float

    def to(self, device: torch.device, dtype: torch.dtype) -> Conditioning:
        """A copy with the UNet inputs on `device` in `dtype` (the latent statistics stay fp32 on the CPU)."""
        return Conditioning(
            embeds={k: v.to(device, dtype) for k, v in self.embeds.items()},
            pooled={k: v.to(device, dtype) for k, v in self.pooled.items()},
            time_ids=self.time_ids.to(device, dtype),
            latent_mean=self.latent_mean,
            latent_std=self.latent_std,
            scaling_factor=self.scaling_factor,
        )

    def sample_latents(self, generator: torch.Generator) -> torch.Tensor:
        """One draw from the cached posterior, scaled for the UNet (the official code samples every step)."""
        eps = torch.randn(self.latent_mean.shape, generator=generator)
        return (self.latent_mean + self.latent_std * eps) * self.scaling_factor


@torch.no_grad()
def encode_conditioning(
    pipe: StableDiffusionXLPipeline,
    pixels: torch.Tensor,
    prompts: PromptSet | Mapping[str, str],
    resolution: int,
    device: torch.device,
) -> Conditioning:
    """Encode the prompts (penultimate hidden states of both text encoders, concatenated; `encode_prompt`) and
    the image (fp32 VAE: SDXL's VAE overflows in fp16), on `device`, then return the text encoders and the VAE
    to the CPU so they take no room while the UNet trains.

    `prompts`: a `PromptSet` (its combined/content/style prompts) or any mapping name → text; equal texts are
    encoded once.
    """
    texts = {k: v for k, v in asdict(prompts).items() if k != "token"} if isinstance(prompts, PromptSet) else prompts
    modules = [m for m in (pipe.text_encoder, pipe.text_encoder_2, pipe.vae) if m is not None]
    for m in modules:
        if m.device != device:
            m.to(device)
    vae_dtype = pipe.vae.dtype
    try:
        encoded: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for text in dict.fromkeys(texts.values()):
            e, _, p, _ = pipe.encode_prompt(
                text, device=device, num_images_per_prompt=1, do_classifier_free_guidance=False
            )
            encoded[text] = (e.float().cpu(), p.float().cpu())
        if vae_dtype != torch.float32:
            pipe.vae.to(dtype=torch.float32)
        posterior = pipe.vae.encode(pixels.to(device, torch.float32)).latent_dist
        mean, std = posterior.mean.float().cpu(), posterior.std.float().cpu()
    finally:
        if vae_dtype != torch.float32:
            pipe.vae.to(dtype=vae_dtype)
        for m in modules:
            if m.device.type != "cpu":
                m.to("cpu")
    # SDXL micro-conditioning: original size, crop (0, 0), target size — the training resolution whatever the
    # source image's size, as the official code does.
    time_ids = torch.tensor([[resolution, resolution, 0, 0, resolution, resolution]], dtype=torch.float32)
    embeds = {k: encoded[t][0] for k, t in texts.items()}
    pooled = {k: encoded[t][1] for k, t in texts.items()}
    return Conditioning(embeds, pooled, time_ids, mean, std, float(pipe.vae.config.scaling_factor))
