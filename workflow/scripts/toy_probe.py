"""The toy world's measurements on the committed base model, with their default settings: the one-block LoRA probe
(rule toy_block_probe_tier), the rank/steps sweep (toy_rank_sweep), one method's step sweep at the preset's settings
(toy_step_sweep_method) and the saturation table over those (toy_step_sweep)."""

from pathlib import Path

from _common import start

runtime = start(snakemake)
params = snakemake.params
out = Path(snakemake.output.table).parent
if snakemake.rule == "toy_step_sweep":
    from toyworld.saturation import write_saturation

    sweeps = {method: Path(path).parent for method, path in zip(params.methods, snakemake.input, strict=True)}
    rows = write_saturation(out, sweeps).to_dict("records")
else:
    from plumbing.devices import resolve_device
    from toyworld.benchmark import benchmark_images, spread
    from toyworld.build import load_oracles
    from toyworld.probe import ProbeConfig, run_probe
    from toyworld.saturation import STEPS
    from toyworld.sweep import SweepConfig, run_sweep
    from unziplora.config import TrainConfig
    from unziplora.pipelines import load_pipeline

    pipe = load_pipeline(str(Path(snakemake.input.model).parent))
    oracles = load_oracles(Path(snakemake.input.oracles[0]).parent)
    items = spread(benchmark_images(params.tier), params.images)
    device = resolve_device(runtime.device)
    if snakemake.rule == "toy_block_probe_tier":
        rows = run_probe(out, pipe, items, oracles, ProbeConfig(), device)
    elif snakemake.rule == "toy_rank_sweep":
        rows = run_sweep(out, pipe, items, oracles, SweepConfig(), device)
    else:  # toy_step_sweep_method: the method at the preset's rank, lr and blocks
        train = TrainConfig.for_method(params.method, **params.train)
        sweep = SweepConfig(train=train, ranks=(train.lora.rank,), steps=STEPS)
        rows = run_sweep(out, pipe, items, oracles, sweep, device)
print(f"{snakemake.rule}: {len(rows)} rows written to {out}")
