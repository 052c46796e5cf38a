"""Rank and step count for the toy world, measured: train a method at each (rank, steps) on a few benchmark images and
score its content-only, style-only and combined generations with the oracles (the same training and generation code
the workflow runs). SDXL's rank 64 is wider than most toy layers; this sweep is what the toy preset's choice rests on.

    rows = sweep(pipe, benchmark_images("novel")[:3], oracles, SweepConfig(), torch.device("cpu"), work_dir)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from metrics.oracle import OracleNet
from toyworld.benchmark import BenchmarkImage
from toyworld.quality import classify
from toyworld.render import KNOWN_SHAPES
from unziplora.config import PromptSet, SampleConfig, TrainConfig
from unziplora.generate import generate, load_run
from unziplora.train import train

PROMPTS = PromptSet.from_names("shape", "zwx")  # "A sks shape in zwx style", "A sks shape", "A shape in zwx style"


def _toy_unziplora() -> TrainConfig:
    # UnZipLoRA at lr 1e-3: at its own 5e-5 it learns nothing on the toy model.
    return TrainConfig.for_method("unziplora", lora={"lr": 1e-3})


@dataclass(frozen=True)
class SweepConfig:
    """A grid over one training config: each point trains `train` with that rank and step count (the rest of it,
    method, lr, blocks, seed, is the sweep's base), and is measured with `samples` images per prompt. Every random
    draw comes from `train.seed`."""

    train: TrainConfig = field(default_factory=_toy_unziplora)
    ranks: tuple[int, ...] = (4, 16, 64)
    steps: tuple[int, ...] = (100, 200, 400)
    samples: int = 4
    sample_steps: int = 25

    def point(self, rank: int, steps: int, resolution: int, device: torch.device) -> TrainConfig:
        """The training config of one grid point at the pipeline's resolution on `device`."""
        return self.train.with_overrides(lora={"rank": rank}, steps=steps, resolution=resolution, device=str(device),
                                         progress=False)  # fmt: skip


def _other_shape(item: BenchmarkImage) -> str:
    """A known shape for the style-only prompt that is not the image's own (so content leakage is visible)."""
    return next(s for s in KNOWN_SHAPES if s != item.shape)


def measure(pipe, run_dir: Path, item: BenchmarkImage, oracles: dict[str, OracleNet], config: SweepConfig,
            device: torch.device, out_dir: Path) -> dict:  # fmt: skip
    """Oracle fidelity and leakage of one trained run: content-only "A sks shape", style-only "A {other shape} in
    zwx style", combined "A sks shape in zwx style"."""
    run = load_run(run_dir)
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    prompts = {
        "content": PROMPTS.content,
        "style": f"A {_other_shape(item)} in zwx style",
        "combined": PROMPTS.combined,
    }
    seen = {}
    for kind, prompt in prompts.items():
        sample = SampleConfig(kind=kind, steps=config.sample_steps, resolution=size, num=config.samples,
                              seed=config.train.seed, batch_size=config.samples, device=str(device),
                              progress=False)  # fmt: skip
        paths = generate(pipe, [run], prompt, sample, out_dir / kind)
        images = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])
        predicted = classify(oracles, images)
        seen[kind] = (np.array(predicted["shape"]) == item.shape, np.array(predicted["style"]) == item.style)
    return {
        "content_fidelity": float(seen["content"][0].mean()),
        "style_leakage": float(seen["content"][1].mean()),
        "style_fidelity": float(seen["style"][1].mean()),
        "content_leakage": float(seen["style"][0].mean()),
        "joint_fidelity": float((seen["combined"][0] & seen["combined"][1]).mean()),
    }


def sweep(pipe, items: list[BenchmarkImage], oracles: dict[str, OracleNet], config: SweepConfig,
          device: torch.device, work_dir: Path, progress: bool = True) -> list[dict]:  # fmt: skip
    """One row per (image, rank, steps): the run's training time and its oracle fidelity and leakage."""
    rows = []
    grid = list(itertools.product(items, config.ranks, config.steps))
    for item, rank, steps in tqdm(grid, desc=f"sweep {config.train.method}", disable=not progress):
        run_dir = Path(work_dir) / f"{item.id}-r{rank}-s{steps}"
        train_config = config.point(rank, steps, pipe.unet.config.sample_size * pipe.vae_scale_factor, device)
        record = train(pipe, item.render(), PROMPTS, train_config, run_dir)
        measured = measure(pipe, run_dir, item, oracles, config, device, run_dir / "samples")
        timing = round(record["timing"]["train_s"], 2)
        rows.append({"image": item.id, "tier": item.tier, "method": config.train.method, "rank": rank, "steps": steps,
                     "lr": train_config.lora.lr, "train_s": timing, **measured})  # fmt: skip
    return rows


def run_sweep(out_dir: str | Path, pipe, items: list[BenchmarkImage], oracles: dict[str, OracleNet],
              config: SweepConfig, device: torch.device) -> list[dict]:  # fmt: skip
    """The sweep with its outputs: `sweep.csv` (one row per image, rank and steps), `sweep_mean.csv` (per rank and
    steps), `sweep.png` and `sweep.json` (settings, versions, device, time); written atomically."""
    import tempfile
    import time
    from dataclasses import asdict

    import pandas as pd

    from plumbing.devices import device_name
    from plumbing.records import staged_outputs, versions, write_json
    from toyworld.figures import sweep_figure

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        rows = sweep(pipe, items, oracles, config, device, Path(work))
    frame = pd.DataFrame(rows)
    mean = frame.drop(columns=["image", "tier", "method"]).groupby(["rank", "steps"], as_index=False).mean()
    with staged_outputs(Path(out_dir)) as stage:
        frame.to_csv(stage / "sweep.csv", index=False)
        mean.to_csv(stage / "sweep_mean.csv", index=False)
        sweep_figure(mean, stage / "sweep.png", title=f"{config.train.method}, {len(items)} {items[0].tier} images")
        write_json(stage / "sweep.json", {"config": asdict(config), "images": [asdict(i) for i in items],
                                          "device": device_name(device), "versions": versions(),
                                          "seconds": round(time.perf_counter() - start, 1)})  # fmt: skip
    return mean.to_dict("records")
