"""The smallest end-to-end run: train every registry method on one synthetic image with the tiny
SDXL-architecture pipeline, reload each method's files into a stock pipeline, render content-only, style-only
and combined images, and write a picture grid plus a CSV summary.

The tiny pipeline has random weights (the toy world that trains a meaningful one comes later), so its pictures
show that every stage runs and how the methods differ mechanically, not image quality.
"""

from __future__ import annotations

import copy
import csv
import tempfile
from pathlib import Path

import torch
from PIL import Image, ImageDraw
from tqdm.auto import tqdm

from plumbing.records import write_json
from unziplora.config import PromptSet, TrainConfig
from unziplora.methods import METHODS, trained_methods
from unziplora.tiny import tiny_pipeline
from unziplora.train import train

RESOLUTION = 32


def demo_image(size: int = 64) -> Image.Image:
    """A yellow square (the content) drawn over diagonal blue stripes (the style)."""
    image = Image.new("RGB", (size, size), (235, 240, 255))
    draw = ImageDraw.Draw(image)
    for k in range(-size, size, 8):
        draw.line([(k, 0), (k + size, size)], fill=(40, 70, 200), width=3)
    draw.rectangle([size // 4, size // 4, 3 * size // 4, 3 * size // 4], fill=(250, 210, 30))
    return image


def run_demo(out_dir: Path, steps: int = 60, methods: list[str] | None = None, seed: int = 0) -> Path:
    """Train `methods` (default: every trained method) for `steps` steps per run each and write `grid.png` and
    `summary.csv`. Baselines keep their own lr and init (`TrainConfig.for_method`); steps and rank are the demo's."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    methods = methods or trained_methods()
    prompts = PromptSet.from_names("square", "stripes")
    image = demo_image()
    image.save(out_dir / "input.png")
    with tempfile.TemporaryDirectory() as tok:
        base = tiny_pipeline(Path(tok), seed=seed)
        rows, summary = [], []
        for key in tqdm(methods, desc="demo"):
            config = TrainConfig.for_method(key, steps=steps, resolution=RESOLUTION, lora={"rank": 4}, seed=seed,
                                            device="cpu")  # fmt: skip
            record = train(copy.deepcopy(base), image, prompts, config, out_dir / key)
            rows.append((key, _render(base, out_dir / key, prompts, seed)))
            fractions = (record["columns"] or {}).get("final_mask_fraction", {}).get("shared", {})
            summary.append(
                {
                    "method": key,
                    "label": METHODS[key].label,
                    "s_per_step": round(record["timing"]["s_per_step"], 4),
                    "loss_first_tenth": round(record["loss"]["mean_first_tenth"], 4),
                    "loss_last_tenth": round(record["loss"]["mean_last_tenth"], 4),
                    "shared_content_columns": fractions.get("content", ""),
                    "shared_style_columns": fractions.get("style", ""),
                }
            )
    _grid(image, rows).save(out_dir / "grid.png")
    with open(out_dir / "summary.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)
    write_json(out_dir / "demo.json", {"methods": methods, "steps": steps, "seed": seed, "prompts": vars(prompts)})
    return out_dir


def _render(base, run_dir: Path, prompts: PromptSet, seed: int) -> list[Image.Image]:
    """Content-only, style-only and combined (plain addition of the two files) images from a stock pipeline."""
    pipe = copy.deepcopy(base)
    for adapter in ("content", "style"):
        pipe.load_lora_weights(run_dir, weight_name=f"{adapter}.safetensors", adapter_name=adapter)
    images = []
    modes = [(["content"], prompts.content), (["style"], "A circle in stripes style"), (["content", "style"], None)]
    for adapters, prompt in modes:
        pipe.set_adapters(adapters, adapter_weights=[1.0] * len(adapters))
        generator = torch.Generator().manual_seed(seed)
        out = pipe(
            prompt or prompts.combined,
            height=RESOLUTION,
            width=RESOLUTION,
            num_inference_steps=10,
            generator=generator,
        )
        images.append(out.images[0])
    return images


def _grid(image: Image.Image, rows: list[tuple[str, list[Image.Image]]], cell: int = 128) -> Image.Image:
    """Rows: methods; columns: input, content-only, style-only, combined; labelled."""
    header = ["input", "content", "style", "both"]
    grid = Image.new("RGB", (cell * 5, 20 + cell * len(rows)), "white")
    draw = ImageDraw.Draw(grid)
    for j, text in enumerate(header):
        draw.text((cell * (j + 1) + 4, 4), text, fill="black")
    for i, (key, images) in enumerate(rows):
        y = 20 + i * cell
        draw.text((4, y + cell // 2 - 6), f"{METHODS[key].label}\n{key}", fill="black")
        for j, im in enumerate([image, *images]):
            grid.paste(im.resize((cell, cell), Image.NEAREST), (cell * (j + 1), y))
    return grid
