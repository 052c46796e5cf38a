"""Pretraining the toy base model: the VAE on renders, then the UNet on cached latents and cached caption embeddings.

Known shapes × known styles minus the held-out pairs, seeded renders, every draw from `Pretraining.seed`:

    pipe, data, record = pretrain_vae(config, device, tokenizer_dir)
    pipe, record = pretrain_unet(pipe, data, record, config, device)
    pipe.save_pretrained("data/toy/base_model")

What keeps it under an hour on two CPU cores (its budget; docs/toy-world.md has the measured times): the VAE trains
on 32-px crops (it is fully convolutional, so a crop teaches the same filters at a quarter of the cost); every image
is encoded once and every caption once, so a UNet step touches neither the VAE nor the text encoders; min-SNR
weights drawn as timestep importance and an EMA of the weights get the most out of a few thousand steps.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, StableDiffusionXLPipeline
from tqdm.auto import tqdm

from metrics.oracle import to_tensor
from toyworld.basemodel import CAPTION_KINDS, BaseModelShape, caption, draw_caption_kinds, new_pipeline
from toyworld.render import SIZE, pretraining_pairs, render

PRETRAIN_SEEDS = 3 * 10**9  # render seeds of the pretraining set: apart from the oracles' training and test seeds
TIME_IDS = (SIZE, SIZE, 0, 0, SIZE, SIZE)  # SDXL's (original size, crop top-left, target size): never cropped here


@dataclass(frozen=True)
class Pretraining:
    """How the base model is pretrained. Every random draw comes from `seed`."""

    shape: BaseModelShape = field(default_factory=BaseModelShape)
    images: int = 16000
    vae_steps: int = 1200
    vae_batch_size: int = 32
    vae_crop: int = 32
    vae_lr: float = 2e-3
    kl_weight: float = 1e-6
    # Measured on 2 CPU cores (docs/toy-world.md), at equal wall time: batch 32 at lr 2e-3 beat batch 64 at 1e-3,
    # 2e-3 and 3e-3 (held-out denoising loss after ~3 min). Without offset noise, 7500 steps reached only 54% of
    # seen-pair samples right (colours collapsed towards the mean, so pale-paper styles were never drawn); with it,
    # 2000 steps reached 72%. 5000 steps keep the rebuild under an hour at 0.3-0.55 s/step.
    unet_steps: int = 5000
    unet_batch_size: int = 32
    unet_lr: float = 2e-3
    warmup_steps: int = 200
    ema_decay: float = 0.999
    min_snr_gamma: float = 5.0
    offset_noise: float = 0.1  # std of a per-sample, per-channel constant added to the noise (see training_noise)
    importance_timesteps: bool = True  # draw t in proportion to its min-SNR weight (see train_unet)
    caption_weights: dict = field(
        default_factory=lambda: {"full": 0.6, "shape": 0.1, "style": 0.1, "image_style": 0.1, "empty": 0.1}
    )
    checkpoint_every: int = 0
    seed: int = 0


def render_pretraining_set(n: int, seed: int) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """`n` renders of pretraining pairs drawn uniformly (held-out pairs never appear): uint8 NHWC and their pairs."""
    pairs = pretraining_pairs()
    rng = np.random.default_rng([seed, 1])
    chosen = [pairs[i] for i in rng.integers(len(pairs), size=n)]
    first = PRETRAIN_SEEDS + seed * 10**7
    images = np.stack([np.asarray(render(shape, style, first + i)) for i, (shape, style) in enumerate(chosen)])
    return images, chosen


def _cosine_with_warmup(optimizer, warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + np.cos(np.pi * (step - warmup) / max(1, total - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_vae(vae, images: np.ndarray, config: Pretraining, device: torch.device, progress: bool = True) -> list:
    """L1 reconstruction plus a small KL term (SD's VAE recipe without the adversarial and perceptual losses), on
    random crops; returns the loss curve. Pixels are in [-1, 1], as the pipeline's image processor gives them."""
    gen = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng([config.seed, 2])
    vae.to(device).train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=config.vae_lr, weight_decay=0.0)
    schedule = _cosine_with_warmup(optimizer, 50, config.vae_steps)
    losses, c = [], config.vae_crop
    for _ in tqdm(range(config.vae_steps), desc="VAE", disable=not progress):
        index = rng.integers(len(images), size=config.vae_batch_size)
        y, x = rng.integers(SIZE - c + 1, size=2)
        batch = (to_tensor(images[index, y : y + c, x : x + c]) * 2 - 1).to(device)
        posterior = vae.encode(batch).latent_dist
        z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=gen).to(device)
        reconstruction = vae.decode(z).sample
        kl = posterior.kl().mean() / batch[0].numel()
        loss = F.l1_loss(reconstruction, batch) + config.kl_weight * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    vae.eval()
    return losses


@torch.no_grad()
def encode_images(vae, images: np.ndarray, device: torch.device, batch_size: int = 256) -> tuple[torch.Tensor, ...]:
    """The VAE posterior (mean, std) of every image, fp32 on the CPU."""
    means, stds = [], []
    for i in range(0, len(images), batch_size):
        posterior = vae.encode((to_tensor(images[i : i + batch_size]) * 2 - 1).to(device)).latent_dist
        means.append(posterior.mean.cpu())
        stds.append(posterior.std.cpu())
    return torch.cat(means), torch.cat(stds)


@torch.no_grad()
def reconstruct(vae, pixels01: torch.Tensor) -> torch.Tensor:
    """Encode and decode (posterior mean) images in [0, 1]; what the oracles train on beside renders."""
    device = next(vae.parameters()).device
    z = vae.encode((pixels01 * 2 - 1).to(device)).latent_dist.mean
    return ((vae.decode(z).sample + 1) / 2).clamp(0, 1).to(pixels01.device)


@torch.no_grad()
def encode_captions(pipe: StableDiffusionXLPipeline, texts: list[str], device: torch.device):
    """Prompt embeddings (N×77×D) and pooled embeddings (N×P) of each caption, through the pipeline's own
    `encode_prompt`; the empty caption is zeros, the pipeline's unconditional input (force_zeros_for_empty_prompt)."""
    embeds, pooled = [], []
    for text in texts:
        e, _, p, _ = pipe.encode_prompt(text, device=device, do_classifier_free_guidance=False)
        if text == "":
            e, p = torch.zeros_like(e), torch.zeros_like(p)
        embeds.append(e[0].float().cpu())
        pooled.append(p[0].float().cpu())
    return torch.stack(embeds), torch.stack(pooled)


def min_snr_weights(scheduler_config, gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The training noise schedule's cumulative alphas and the min-SNR-γ loss weight of every timestep (epsilon
    prediction: min(SNR, γ) / SNR)."""
    alphas = DDPMScheduler.from_config(scheduler_config).alphas_cumprod
    snr = alphas / (1 - alphas)
    return alphas, torch.clamp(snr, max=gamma) / snr


def training_noise(shape: torch.Size, offset: float, generator: torch.Generator) -> torch.Tensor:
    """The noise added to one batch of latents: standard Gaussian, plus (offset noise) `offset` times a Gaussian
    constant per sample and channel.

    Why: an image's mean colour lives in its latent's per-channel means, and at SDXL's last timestep the pixel noise
    of a 16×16 latent hides them poorly (the mean of 256 noise values has std 1/16), so a model trained without the
    offset reads each image's colour from the noise and never learns to choose it: samples drift to the average
    colour and pale-paper styles (sketch, watercolour) are never drawn (measured: docs/toy-world.md)."""
    eps = torch.randn(shape, generator=generator)
    if offset:
        eps = eps + offset * torch.randn(*shape[:2], 1, 1, generator=generator)
    return eps


def train_unet(
    pipe, latents, pairs, config: Pretraining, device: torch.device, progress: bool = True, on_checkpoint=None
):
    """Epsilon-prediction training (SDXL's noise schedule) with min-SNR loss weights and caption dropout; returns
    the EMA UNet (what is saved) and the loss curve."""
    gen = torch.Generator().manual_seed(config.seed + 1)
    rng = np.random.default_rng([config.seed, 3])
    mean, std = latents
    texts = sorted({caption(s, t, k) for s, t in set(pairs) for k in CAPTION_KINDS})
    index_of = {text: i for i, text in enumerate(texts)}
    embeds, pooled = encode_captions(pipe, texts, device)
    embeds, pooled = embeds.to(device), pooled.to(device)
    alphas, weight = min_snr_weights(pipe.scheduler.config, config.min_snr_gamma)
    alphas, weight = alphas.to(device), weight.to(device)
    # Drawing t in proportion to its weight (and not weighting the loss) is the same objective up to the constant
    # weight.mean(), without spending steps on low-noise timesteps whose weight is nearly zero (~15% of them).
    t_probs = (weight if config.importance_timesteps else torch.ones_like(weight)).cpu()
    unet = pipe.unet.to(device).train()
    ema = copy.deepcopy(unet).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=config.unet_lr, weight_decay=1e-2)
    schedule = _cosine_with_warmup(optimizer, config.warmup_steps, config.unet_steps)
    time_ids = torch.tensor([TIME_IDS], dtype=torch.float32, device=device).repeat(config.unet_batch_size, 1)
    scale, losses = pipe.vae.config.scaling_factor, []
    for step in tqdm(range(config.unet_steps), desc="UNet", disable=not progress):
        index = rng.integers(len(pairs), size=config.unet_batch_size)
        kinds = draw_caption_kinds(config.unet_batch_size, config.caption_weights, rng)
        rows = torch.tensor([index_of[caption(*pairs[i], k)] for i, k in zip(index, kinds, strict=True)])
        eps = training_noise(mean[index].shape, config.offset_noise, gen)
        x0 = (mean[index] + std[index] * torch.randn(mean[index].shape, generator=gen)) * scale
        t = torch.multinomial(t_probs, config.unet_batch_size, replacement=True, generator=gen)
        x0, eps, t, rows = x0.to(device), eps.to(device), t.to(device), rows.to(device)
        a = alphas[t].view(-1, 1, 1, 1)
        noisy = a.sqrt() * x0 + (1 - a).sqrt() * eps
        cond = {"text_embeds": pooled[rows], "time_ids": time_ids}
        prediction = unet(noisy, t, embeds[rows], added_cond_kwargs=cond).sample
        per_sample = ((prediction - eps) ** 2).mean(dim=(1, 2, 3))
        if config.importance_timesteps:
            loss = weight.mean() * per_sample.mean()
        else:
            loss = (weight[t] * per_sample).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        decay = min(config.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(list(ema.parameters()), list(unet.parameters()), 1 - decay)
        losses.append(loss.item())
        if on_checkpoint and config.checkpoint_every and (step + 1) % config.checkpoint_every == 0:
            on_checkpoint(step + 1, ema)
    return ema, losses


def pretrain_vae(config: Pretraining, device: torch.device, tokenizer_dir: Path, progress: bool = True):
    """Stage 1: a new pipeline, the pretraining renders, the trained VAE and its latent scale. Returns the pipeline,
    the renders and their pairs, and a record."""
    record: dict = {"config": asdict(config), "seconds": {}}
    clock = time.perf_counter()
    pipe = new_pipeline(config.shape, tokenizer_dir, seed=config.seed)
    images, pairs = render_pretraining_set(config.images, config.seed)
    record["seconds"]["render"] = round(time.perf_counter() - clock, 1)
    clock = time.perf_counter()
    record["vae_loss"] = train_vae(pipe.vae, images, config, device, progress)
    latents = encode_images(pipe.vae, images, device)
    # Latents enter the UNet at unit variance, as SDXL's scaling factor makes them.
    pipe.vae.register_to_config(scaling_factor=float(1.0 / latents[0].std()))
    record["seconds"]["vae"] = round(time.perf_counter() - clock, 1)
    return pipe, (images, pairs, latents), record


def pretrain_unet(pipe, data, record: dict, config: Pretraining, device: torch.device, progress: bool = True,
                  on_checkpoint=None):  # fmt: skip
    """Stage 2: the UNet on the cached latents; the EMA weights go into `pipe`, which comes back on the CPU.
    `on_checkpoint(step, ema_unet)` is called every `checkpoint_every` steps (to measure quality along the way)."""
    _, pairs, latents = data
    clock = time.perf_counter()
    pipe.text_encoder.to(device)
    pipe.text_encoder_2.to(device)
    ema, record["unet_loss"] = train_unet(pipe, latents, pairs, config, device, progress, on_checkpoint)
    pipe.unet.load_state_dict(ema.state_dict())
    pipe.to("cpu")
    record["seconds"]["unet"] = round(time.perf_counter() - clock, 1)
    record["parameters"] = {
        name: sum(p.numel() for p in getattr(pipe, name).parameters())
        for name in ("vae", "unet", "text_encoder", "text_encoder_2")
    }
    return pipe, record
