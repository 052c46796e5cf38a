"""Train the toy world's shape and style oracles (toyworld.oracles.build_oracles) with the base model's VAE."""

from pathlib import Path

from _common import start

from plumbing.devices import resolve_device
from toyworld.oracles import OracleTraining, build_oracles
from unziplora.pipelines import load_pipeline

runtime = start(snakemake)
device = resolve_device(runtime.device)
vae = load_pipeline(str(Path(snakemake.input.model).parent)).vae.to(device)
report = build_oracles(
    Path(snakemake.output.report).parent, OracleTraining(seed=snakemake.params.seed), vae, device=device
)
for factor, result in report["oracles"].items():
    print(f"{factor}: test accuracy {result['accuracy']:.4f} ({result['train_s']} s)")
