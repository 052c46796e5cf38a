"""How good the toy base model is, measured by the oracles: generate "a {shape} in {style} style" for every pair on
fixed seeds and check that the requested shape and style are what the oracles see.

    report = generation_quality(pipe, oracles, device)   # seen and held-out pairs, per factor, confusion matrices
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from diffusers import StableDiffusionXLPipeline
from tqdm.auto import tqdm

from metrics.oracle import OracleNet, predict
from toyworld.basemodel import caption
from toyworld.render import HELD_OUT, pretraining_pairs

QUALITY_BAR = 0.90  # requested shape and style both right on this share of seen pairs' samples (the world's bar)


@dataclass(frozen=True)
class Sampling:
    """How quality samples are drawn (the toy preset samples the same way)."""

    per_pair: int = 8
    steps: int = 25
    guidance_scale: float = 5.0
    seed: int = 0
    batch_size: int = 128


@torch.no_grad()
def generate(pipe: StableDiffusionXLPipeline, prompts: list[str], seeds: list[int], sampling: Sampling,
             device: torch.device, progress: bool = True) -> np.ndarray:  # fmt: skip
    """One image per (prompt, seed) through the stock pipeline: uint8 NHWC."""
    pipe.to(device)
    out = []
    starts = range(0, len(prompts), sampling.batch_size)
    for i in tqdm(starts, desc="generate", disable=not progress):
        chunk = slice(i, i + sampling.batch_size)
        generators = [torch.Generator(device).manual_seed(s) for s in seeds[chunk]]
        images = pipe(
            prompt=prompts[chunk],
            generator=generators,
            num_inference_steps=sampling.steps,
            guidance_scale=sampling.guidance_scale,
            output_type="np",
        ).images
        out.append((np.clip(images, 0, 1) * 255).round().astype(np.uint8))
    return np.concatenate(out)


def classify(oracles: dict[str, OracleNet], images: np.ndarray, batch_size: int = 500) -> dict[str, list[str]]:
    """The oracles' predicted class name per image, per factor."""
    return {
        factor: [p.label for i in range(0, len(images), batch_size) for p in predict(net, images[i : i + batch_size])]
        for factor, net in oracles.items()
    }


def confusion(classes: tuple[str, ...], truth: list[str], predicted: list[str]) -> list[list[int]]:
    """Counts, rows: requested class, columns: predicted class, both in `classes` order."""
    index = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=int)
    for t, p in zip(truth, predicted, strict=True):
        matrix[index[t], index[p]] += 1
    return matrix.tolist()


def generation_quality(pipe, oracles: dict[str, OracleNet], device: torch.device, sampling: Sampling | None = None,
                       progress: bool = True) -> dict:  # fmt: skip
    """Oracle-measured fidelity of the base model on every seen and every held-out pair of known factors."""
    sampling = sampling or Sampling()
    groups = {"seen": pretraining_pairs(), "held_out": list(HELD_OUT)}
    report: dict = {"sampling": asdict(sampling), "bar": QUALITY_BAR}
    for group, pairs in groups.items():
        requested = [pair for pair in pairs for _ in range(sampling.per_pair)]
        prompts = [caption(shape, style, "full") for shape, style in requested]
        seeds = [sampling.seed * 10**6 + i for i in range(len(prompts))]
        predicted = classify(oracles, generate(pipe, prompts, seeds, sampling, device, progress))
        right = {
            factor: np.array([p == r[k] for p, r in zip(predicted[factor], requested, strict=True)])
            for k, factor in enumerate(("shape", "style"))
        }
        both = right["shape"] & right["style"]
        per_pair = {
            f"{shape}/{style}": round(float(both[j * sampling.per_pair : (j + 1) * sampling.per_pair].mean()), 4)
            for j, (shape, style) in enumerate(pairs)
        }
        report[group] = {
            "images": len(prompts),
            "both": round(float(both.mean()), 4),
            "shape": round(float(right["shape"].mean()), 4),
            "style": round(float(right["style"].mean()), 4),
            "per_pair": per_pair,
            "confusion": {
                factor: confusion(oracles[factor].classes, [r[k] for r in requested], predicted[factor])
                for k, factor in enumerate(("shape", "style"))
            },
        }
    report["meets_bar"] = report["seen"]["both"] >= QUALITY_BAR
    return report
