"""The toy world's committed artifacts and how each is rebuilt: the base model (a pipeline folder with
`pretraining.json`) and its quality report, measured by the oracles.

    record = build_base_model("results/toyworld/base_model", Pretraining(), torch.device("cpu"), "data/toy/oracles")
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from metrics.oracle import OracleNet, load_oracle
from plumbing.devices import device_name
from plumbing.records import loss_summary, staged_outputs, versions, write_json
from toyworld.oracles import FACTORS
from toyworld.pretrain import Pretraining, pretrain_unet, pretrain_vae
from toyworld.quality import Sampling, generation_quality

BASE_MODEL = Path("data/toy/base_model")  # the committed artifacts, relative to the project root
ORACLES = Path("data/toy/oracles")


def load_oracles(folder: str | Path) -> dict[str, OracleNet]:
    """The shape and style oracles written by `build_oracles`, keyed by factor."""
    folder = Path(folder)
    missing = [f for f in FACTORS if not (folder / f"{f}.safetensors").is_file()]
    if missing:
        raise ValueError(
            f"oracle folder {folder} lacks {', '.join(m + '.safetensors' for m in missing)}; "
            f"rebuild them with `python -m toyworld oracles {folder} --vae <base model folder>`"
        )
    return {f: load_oracle(folder / f"{f}.safetensors") for f in FACTORS}


def build_base_model(out_dir: str | Path, config: Pretraining, device: torch.device,
                     oracle_dir: str | Path | None = None, sampling: Sampling | None = None,
                     progress: bool = True) -> dict:  # fmt: skip
    """Pretrain the base model and write it as a pipeline folder with `pretraining.json` (config, versions, device,
    timings, loss curves and, when oracles are given, the oracle-measured quality). Nothing is half-written: the
    folder appears only when everything succeeded."""
    oracles = load_oracles(oracle_dir) if oracle_dir is not None else None
    start = time.perf_counter()
    with staged_outputs(Path(out_dir)) as stage, tempfile.TemporaryDirectory() as tmp:
        pipe, data, record = pretrain_vae(config, device, Path(tmp) / "tokenizer", progress)
        pipe, record = pretrain_unet(pipe, data, record, config, device, progress)
        record["vae_loss"] = loss_summary(record["vae_loss"])
        record["unet_loss"] = loss_summary(record["unet_loss"])
        pipe.save_pretrained(stage, safe_serialization=True)
        record |= {"device": device_name(device), "versions": versions(), "seed": config.seed}
        record["seconds"]["pretraining"] = round(time.perf_counter() - start, 1)
        if oracles is not None:
            clock = time.perf_counter()
            record["quality"] = generation_quality(pipe, oracles, device, sampling or Sampling(), progress)
            record["seconds"]["quality"] = round(time.perf_counter() - clock, 1)
        record["seconds"]["total"] = round(time.perf_counter() - start, 1)
        write_json(stage / "pretraining.json", record)
    return record


def quality_summary(quality: dict) -> str:
    """One line per group: both-right, shape-right and style-right rates, and the bar."""
    lines = [
        f"{group}: both right {quality[group]['both']:.1%} (shape {quality[group]['shape']:.1%}, "
        f"style {quality[group]['style']:.1%}) of {quality[group]['images']} samples"
        for group in ("seen", "held_out")
    ]
    verdict = "meets" if quality["meets_bar"] else "MISSES"
    return "\n".join(lines + [f"{verdict} the bar: both right on >= {quality['bar']:.0%} of seen-pair samples"])
