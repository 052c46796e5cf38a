"""Seeded random weights of the metric models' true architectures (for runs without downloadable weights)."""

from pathlib import Path

from _common import start

from metrics.random_weights import write_random_weights

start(snakemake)
for path in snakemake.output:
    write_random_weights(Path(path).stem, path, seed=snakemake.params.seed)
    print(f"random weights written: {path}")
