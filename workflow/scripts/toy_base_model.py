"""Pretrain the toy base model (toyworld.build.build_base_model) and measure it with the committed oracles."""

from pathlib import Path

from _common import start

from plumbing.devices import resolve_device
from toyworld.build import build_base_model, quality_summary
from toyworld.pretrain import Pretraining

runtime = start(snakemake)
out = Path(snakemake.output.model).parent
oracle_dir = Path(snakemake.input.oracles[0]).parent
record = build_base_model(out, Pretraining(seed=snakemake.params.seed), resolve_device(runtime.device), oracle_dir)
print(f"pretrained in {record['seconds']['total'] / 60:.1f} min on {record['device']}")
print(quality_summary(record["quality"]))
