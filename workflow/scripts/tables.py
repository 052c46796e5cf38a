"""Comparison, ablation, metric win-rate, per-image and recombination tables (CSV + Markdown) with provenance."""

from pathlib import Path

import pandas as pd
from _common import project_commit, start

from analysis.tables import EVALUATION_CHOICES, Provenance, load_reference
from analysis.writing import write_tables

config = start(snakemake)
params = snakemake.params
provenance = Provenance(
    commit=project_commit(), config_hash=params.config_hash, preset=config["preset"], choices=EVALUATION_CHOICES
)
paths = write_tables(
    pd.read_csv(snakemake.input.scores),
    Path(snakemake.output.comparison).parent,
    provenance,
    load_reference(snakemake.input.reference),
    n_boot=params.bootstrap,
    seed=params.seed,
    truth=params.truth,
    subsets=params.subsets,
)
print("wrote", *sorted(str(p) for p in paths.values()))
