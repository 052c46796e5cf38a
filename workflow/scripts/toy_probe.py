"""The toy world's measurements on the committed base model: the one-block LoRA probe (rule toy_block_probe_tier) or
the rank/steps sweep (rule toy_rank_sweep), with their default settings."""

from pathlib import Path

from _common import start

from toyworld.benchmark import benchmark_images, spread
from toyworld.build import load_oracles
from toyworld.probe import ProbeConfig, run_probe
from toyworld.sweep import SweepConfig, run_sweep
from unziplora.pipelines import load_pipeline
from unziplora.records import resolve_device

config = start(snakemake)
params = snakemake.params
pipe = load_pipeline(str(Path(snakemake.input.model).parent))
oracles = load_oracles(Path(snakemake.input.oracles[0]).parent)
items = spread(benchmark_images(params.tier), params.images)
out, device = Path(snakemake.output.table).parent, resolve_device(config["device"])
if snakemake.rule == "toy_block_probe_tier":
    rows = run_probe(out, pipe, items, oracles, ProbeConfig(), device)
else:
    rows = run_sweep(out, pipe, items, oracles, SweepConfig(), device)
print(f"{snakemake.rule}: {len(rows)} rows written to {out}")
