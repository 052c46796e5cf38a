"""Seeded random weights of one metric model's true architecture (for runs without downloadable weights)."""

from _common import start

from metrics.random_weights import write_random_weights

start(snakemake)  # noqa: F821 - injected by Snakemake
write_random_weights(snakemake.wildcards.model, snakemake.output[0], seed=snakemake.params.seed)  # noqa: F821
print(f"random weights for {snakemake.wildcards.model} written")  # noqa: F821
