"""Which UNet blocks carry shape and which carry style, measured on the toy base model.

B-LoRA's finding (up_blocks.0.attentions.0 carries content, .1 style) is a property of SDXL's trained weights, not
of the module names, so the toy model's answer is measured: for each attention block, one LoRA restricted to that
block is trained on a benchmark image with the combined prompt ("A sks shape in zwx style"), and the oracles classify
what it then generates from that prompt. A block whose LoRA brings back the image's shape carries content; one that
brings back its style carries style. The base model alone is the floor (it has never seen `sks` or `zwx`).

    rows = probe_blocks(pipe, benchmark_images("novel")[:4], oracles, ProbeConfig(), torch.device("cpu"))
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from metrics.oracle import OracleNet
from toyworld.benchmark import BenchmarkImage
from toyworld.quality import Sampling, classify, generate
from unziplora.conditioning import encode_conditioning
from unziplora.config import PromptSet, TrainConfig
from unziplora.images import image_tensor
from unziplora.methods import get_method
from unziplora.train import fit

ATTENTION_BLOCK = re.compile(r"^(down_blocks\.\d+|up_blocks\.\d+|mid_block)\.attentions\.\d+$")
BASE = "none (base model)"  # the row of the untrained base model


@dataclass(frozen=True)
class ProbeConfig:
    """One probe LoRA's training and sampling (every random draw from `seed`)."""

    steps: int = 300
    rank: int = 8
    lr: float = 1e-3
    samples: int = 8
    seed: int = 0
    sampling: Sampling = field(default_factory=Sampling)


def attention_blocks(unet) -> list[str]:
    """Every attention block of the UNet in module order ("down_blocks.1.attentions.0", ..., "mid_block.attentions.0",
    "up_blocks.0.attentions.0", ...)."""
    return [name for name, _ in unet.named_modules() if ATTENTION_BLOCK.match(name)]


def _fidelity(pipe, item: BenchmarkImage, oracles, config: ProbeConfig, device) -> dict:
    prompts = [PromptSet.from_names("shape", "zwx").combined] * config.samples
    seeds = [config.seed * 1000 + k for k in range(config.samples)]
    predicted = classify(oracles, generate(pipe, prompts, seeds, config.sampling, device, progress=False))
    return {
        "shape_fidelity": float(np.mean([p == item.shape for p in predicted["shape"]])),
        "style_fidelity": float(np.mean([p == item.style for p in predicted["style"]])),
    }


def probe_blocks(pipe, items: list[BenchmarkImage], oracles: dict[str, OracleNet], config: ProbeConfig,
                 device: torch.device, blocks: list[str] | None = None,
                 progress: bool = True) -> list[dict]:  # fmt: skip
    """One row per (image, block) with the oracle-measured shape and style fidelity of that block's LoRA, plus one
    row per image for the bare base model."""
    blocks = blocks or attention_blocks(pipe.unet)
    prompts = PromptSet.from_names("shape", "zwx")
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    train_config = TrainConfig(method="block_probe", steps=config.steps, seed=config.seed, resolution=size,
                               lora={"rank": config.rank, "lr": config.lr, "init": "peft_gaussian"}, device=str(device),
                               progress=False)  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for item in tqdm(items, desc="probe images", disable=not progress):
            base = {"image": item.id, "tier": item.tier, "shape": item.shape, "style": item.style}
            rows.append({**base, "block": BASE, **_fidelity(pipe, item, oracles, config, device)})
            cond = encode_conditioning(pipe, image_tensor(item.render(), size), prompts, size, device)
            for block in blocks:
                # M0 (two LoRAs trained jointly on the combined prompt, no separation) confined to one block: the
                # block's whole capacity to reproduce the image, whatever it carries.
                spec = replace(get_method("joint"), key="block_probe", target_blocks=(block,))
                out = Path(tmp) / f"{item.id}-{block}"
                record = fit(pipe.unet, pipe.scheduler.config, cond, train_config, out, spec=spec)
                for name in ("content", "style"):
                    pipe.load_lora_weights(out, weight_name=f"{name}.safetensors", adapter_name=name)
                pipe.set_adapters(["content", "style"], [1.0, 1.0])
                try:
                    measured = _fidelity(pipe, item, oracles, config, device)
                finally:
                    pipe.unload_lora_weights()
                rows.append({**base, "block": block, **measured, "final_loss": record["loss"]["mean_last_tenth"]})
    return rows


def block_table(rows: list[dict]) -> list[dict]:
    """Mean shape and style fidelity per block over images, and each minus the bare base model's."""
    blocks = list(dict.fromkeys(r["block"] for r in rows))
    floor = {k: np.mean([r[k] for r in rows if r["block"] == BASE]) for k in ("shape_fidelity", "style_fidelity")}
    table = []
    for block in blocks:
        mine = [r for r in rows if r["block"] == block]
        means = {k: float(np.mean([r[k] for r in mine])) for k in ("shape_fidelity", "style_fidelity")}
        table.append({"block": block, "images": len(mine), **means,
                      **{f"{k}_over_base": float(means[k] - floor[k]) for k in floor}})  # fmt: skip
    return table


def run_probe(out_dir: str | Path, pipe, items: list[BenchmarkImage], oracles: dict[str, OracleNet],
              config: ProbeConfig, device: torch.device) -> list[dict]:  # fmt: skip
    """The probe with its outputs: `blocks.csv` (per image and block), `block_table.csv` (per block),
    `blocks.png` (the figure) and `probe.json` (settings, versions, device, time); written atomically."""
    import pandas as pd

    from plumbing.devices import device_name
    from plumbing.records import staged_outputs, versions, write_json
    from toyworld.figures import block_figure

    start = time.perf_counter()
    rows = probe_blocks(pipe, items, oracles, config, device)
    table = block_table(rows)
    with staged_outputs(Path(out_dir)) as stage:
        pd.DataFrame(rows).to_csv(stage / "blocks.csv", index=False)
        pd.DataFrame(table).to_csv(stage / "block_table.csv", index=False)
        block_figure(table, stage / "blocks.png", title=f"{len(items)} {items[0].tier} images, rank {config.rank}, "
                     f"{config.steps} steps")  # fmt: skip
        write_json(stage / "probe.json", {"config": asdict(config), "images": [asdict(i) for i in items],
                                          "device": device_name(device), "versions": versions(),
                                          "seconds": round(time.perf_counter() - start, 1)})  # fmt: skip
    return table
