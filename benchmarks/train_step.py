"""Training cost per method: s/step, per-image training cost and peak memory (numbers, not a timed test).

    python benchmarks/train_step.py --model tiny --device cpu --resolution 32 --steps 20 \
        --methods unziplora,dreambooth_lora,blora --json benchmarks/tiny_cpu.json

Every method trains through the real loop (`unziplora.train.fit`) on cached conditioning with random prompt
embeddings and latents of the right shapes (text encoders and VAE are not part of a training step). `--model sdxl`
builds the full-size UNet from SDXL 1.0's published config with random weights (no download); on CUDA its weights
are stored in bf16 with gradient checkpointing (the training defaults there), on the CPU in fp32.

Each method runs in a fresh subprocess, so its peak memory is its own: `torch.cuda.max_memory_reserved` on CUDA,
the process's peak resident set size on the CPU (which includes building the model). s/step is the median over the
ordinary steps after each run's first (warm-up) step (the median, because a shared machine adds outliers; the 1-minute
load average before and after is recorded too); the per-image cost is s/step × the method's own default steps × its
runs per image (DreamBooth-LoRA: two runs of 1000 steps; B-LoRA one of 1000; UnZipLoRA and ablations one of 600),
plus, for column methods, the extra time of their column-selection steps × the rounds (3).
Output: {method: {"s_per_step", "image_cost_s", "peak_mem_bytes", "device", "versions", ...}}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's `unziplora`, installed or not


def _parse(argv: list[str] | None) -> argparse.Namespace:
    from unziplora.methods import trained_methods

    trained = trained_methods()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=["tiny", "sdxl"], default="tiny", help="tiny pipeline or full-size SDXL UNet")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to train (default: %(default)s)")
    p.add_argument("--resolution", type=int, default=32, help="image side in pixels; latents are 1/8 of it")
    p.add_argument("--steps", type=int, default=10, help="steps measured per run (default: %(default)s)")
    p.add_argument("--methods", default=",".join(trained), help="comma-separated registry keys (default: all trained)")
    p.add_argument("--json", type=Path, required=True, help="output JSON file")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one method in this process
    args = p.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.methods if m not in trained]
    if unknown:
        p.error(f"unknown or untrained method(s) {unknown}; choose from {trained} (base trains nothing)")
    if args.steps < 2:
        p.error("--steps must be >= 2 (the first step of each run is warm-up and not counted)")
    if args.resolution < 8 or args.resolution % 8:
        p.error("--resolution must be a positive multiple of 8")
    return args


def measure(model: str, device: str, resolution: int, steps: int, method: str) -> dict:
    """Train `method` for `steps` steps per run in this process and return its numbers."""
    import torch
    from diffusers import UNet2DConditionModel

    from plumbing.devices import device_name
    from plumbing.records import versions
    from unziplora.config import PromptSet, TrainConfig
    from unziplora.methods import get_method
    from unziplora.sdxl import SDXL_UNET_CONFIG
    from unziplora.tiny import SDXL_SCHEDULER_CONFIG, tiny_unet
    from unziplora.train import fit, training_prompts

    torch.manual_seed(0)
    unet = UNet2DConditionModel(**SDXL_UNET_CONFIG) if model == "sdxl" else tiny_unet()
    spec = get_method(method)
    config = TrainConfig.for_method(method, steps=steps, resolution=resolution, device=device, progress=False)
    if spec.column_separation and steps < 30:
        # Few measured steps: one selection round (probe, selection, then masked steps), so most measured steps are
        # the ordinary masked steps that make up ~99% of a 600-step run.
        config = config.with_overrides(columns={"rounds": 1})
    cond = _random_conditioning(unet.config, training_prompts(spec, PromptSet.from_names("cat", "sketch")), resolution)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    load_before = os.getloadavg()[0]
    record = fit(unet, SDXL_SCHEDULER_CONFIG, cond, config, out_dir=None)
    per_run = [record["timing"]["step_s"][i : i + steps] for i in range(0, len(record["timing"]["step_s"]), steps)]
    default = TrainConfig.for_method(method)
    ordinary, selection = [], []
    period = -(-steps // config.columns.rounds)  # the schedule's period (ColumnSeparation: ceil(T / rounds))
    for run in per_run:
        for i, t in enumerate(run[1:], start=1):
            # Column methods score columns on one step per round (step ≡ 1 mod period): an extra cost, counted
            # once per round in the per-image cost, not in the ordinary step's time.
            (selection if spec.column_separation and i % period == 1 else ordinary).append(t)
    s_per_step = statistics.median(ordinary or selection)
    surcharge = max(0.0, statistics.mean(selection) - s_per_step) if selection else 0.0
    image_cost = s_per_step * default.steps * spec.runs_per_image
    if spec.column_separation:
        image_cost += surcharge * default.columns.rounds
    return {
        "s_per_step": s_per_step,
        "image_cost_s": image_cost,
        "peak_mem_bytes": record["peak_memory"]["bytes"],
        "device": device_name(torch.device(device)),
        "versions": versions(),
        "peak_mem_kind": record["peak_memory"]["kind"],
        "image_cost_steps": default.steps * spec.runs_per_image,
        "selection_step_surcharge_s": surcharge if spec.column_separation else None,
        "measured_steps_per_run": steps,
        "runs_per_image": spec.runs_per_image,
        "model": model,
        "resolution": resolution,
        "latent": resolution // 8,
        "precision": record["precision"],
        "gradient_checkpointing": record["gradient_checkpointing"],
        "rank": config.lora.rank,
        "lora_modules": record["lora"]["modules_per_lora"],
        "column_rounds": config.columns.rounds if spec.column_separation else None,
        "step_s": record["timing"]["step_s"],
        "load_avg_1m": [load_before, os.getloadavg()[0]],
        "cpu_threads": torch.get_num_threads(),
    }


def _random_conditioning(unet_config, texts: dict[str, str], resolution: int):
    """Cached conditioning of the right shapes (prompt embeddings, pooled embeddings, latents), seeded."""
    import torch

    from unziplora.conditioning import Conditioning

    g = torch.Generator().manual_seed(0)
    width = unet_config.cross_attention_dim
    pooled = unet_config.projection_class_embeddings_input_dim - 6 * unet_config.addition_time_embed_dim
    latent = (1, 4, resolution // 8, resolution // 8)
    return Conditioning(
        embeds={k: torch.randn(1, 77, width, generator=g) for k in texts},
        pooled={k: torch.randn(1, pooled, generator=g) for k in texts},
        time_ids=torch.tensor([[resolution, resolution, 0, 0, resolution, resolution]], dtype=torch.float32),
        latent_mean=torch.randn(latent, generator=g),
        latent_std=torch.full(latent, 0.1),
        scaling_factor=0.13025,
    )


def main(argv: list[str] | None = None) -> int:
    """Measure each method in its own subprocess and write the JSON table."""
    args = _parse(argv)
    if args.one:
        result = measure(args.model, args.device, args.resolution, args.steps, args.one)
        args.json.write_text(json.dumps(result))
        return 0
    results = {}
    for method in args.methods:
        with tempfile.TemporaryDirectory() as tmp:
            part = Path(tmp) / "one.json"
            cmd = [sys.executable, __file__, "--model", args.model, "--device", args.device]
            cmd += ["--resolution", str(args.resolution), "--steps", str(args.steps), "--one", method]
            cmd += ["--json", str(part)]
            subprocess.run(cmd, check=True)
            results[method] = json.loads(part.read_text())
        r = results[method]
        print(
            f"{method:16s} {r['s_per_step']:8.3f} s/step  {r['image_cost_s']:10.1f} s/image  "
            f"{r['peak_mem_bytes'] / 2**30:6.2f} GiB peak  ({r['device']})",
            flush=True,
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    from plumbing.records import write_json

    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
