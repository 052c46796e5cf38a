"""Short-run comparison of base-model training recipes (learning rate, batch size): train a fresh toy UNet for N steps
on the latents of a trained VAE and print its held-out denoising loss (min-SNR weighted, full captions, fixed noise
and a fixed grid of timesteps), with and without the caption. Compare recipes at equal wall time, not equal steps.

    python benchmarks/toy_recipe.py --vae data/toy/base_model --lr 2e-3 --batch 32 --steps 430 --threads 1

Measured on 2 CPU cores (one thread per run, two runs at a time; docs/toy-world.md): B64 for 250 steps at
lr 1e-3 / 2e-3 / 3e-3 → 0.0959 / 0.0754 / 0.0683; B32 for 430 steps (the same wall time) at 2e-3 → 0.0650.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import torch
from diffusers import StableDiffusionXLPipeline

from toyworld.basemodel import caption, new_unet
from toyworld.pretrain import (
    TIME_IDS,
    Pretraining,
    encode_captions,
    encode_images,
    min_snr_weights,
    render_pretraining_set,
    train_unet,
)
from unziplora.pipelines import load_pipeline

CPU = torch.device("cpu")


@torch.no_grad()
def held_out_loss(pipe, unet, n: int = 512, seed: int = 7) -> dict[str, float]:
    """Min-SNR-weighted epsilon loss on fresh renders, timesteps spread evenly over the schedule, fixed noise."""
    images, pairs = render_pretraining_set(n, seed)
    x0 = encode_images(pipe.vae, images, CPU)[0] * pipe.vae.config.scaling_factor
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    t = torch.linspace(0, 999, n).long()
    alphas, weight = min_snr_weights(pipe.scheduler.config, Pretraining.min_snr_gamma)
    weight = weight[t]
    noisy = alphas[t].sqrt().view(-1, 1, 1, 1) * x0 + (1 - alphas[t]).sqrt().view(-1, 1, 1, 1) * eps
    texts = sorted({caption(s, t_, "full") for s, t_ in pairs})
    embeds, pooled = encode_captions(pipe, texts, CPU)
    rows = torch.tensor([texts.index(caption(s, t_, "full")) for s, t_ in pairs])
    time_ids = torch.tensor([TIME_IDS], dtype=torch.float32).repeat(n, 1)
    embeds, pooled = embeds[rows], pooled[rows]
    out = {}
    for name, (e, p) in {"cond": (embeds, pooled), "uncond": (embeds * 0, pooled * 0)}.items():
        pred = []
        for i in range(0, n, 128):
            cond = {"text_embeds": p[i : i + 128], "time_ids": time_ids[i : i + 128]}
            pred.append(unet(noisy[i : i + 128], t[i : i + 128], e[i : i + 128], added_cond_kwargs=cond).sample)
        out[name] = float((weight * ((torch.cat(pred) - eps) ** 2).mean(dim=(1, 2, 3))).mean())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vae", required=True, help="a base model folder whose VAE makes the latents")
    parser.add_argument("--lr", type=float, default=Pretraining.unet_lr)
    parser.add_argument("--batch", type=int, default=Pretraining.unet_batch_size)
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipe = load_pipeline(args.vae)
    config = Pretraining(unet_steps=args.steps, unet_lr=args.lr, unet_batch_size=args.batch, images=args.images)
    images, pairs = render_pretraining_set(args.images, config.seed)
    latents = encode_images(pipe.vae, images, CPU)
    torch.manual_seed(123)
    pipe = StableDiffusionXLPipeline(**{**pipe.components, "unet": new_unet(config.shape)})
    ema, losses = train_unet(pipe, latents, pairs, config, CPU, progress=False)
    recipe = {k: v for k, v in dataclasses.asdict(config).items() if k.startswith("unet_")}
    print(json.dumps({**recipe, "train_loss_last50": float(np.mean(losses[-50:])), **held_out_loss(pipe, ema)}))


if __name__ == "__main__":
    main()
