"""Comparison, ablation, metric win-rate, per-image and recombination tables (CSV + Markdown), after checking that
every score was made with the settings the config resolves; their provenance comes from the scores' records."""

import json
from pathlib import Path

import pandas as pd
from _checks import ProvenanceError, check_scores
from _common import start
from _outputs import project_commit, refuse, write_json_atomic
from _provenance import settings_hash

from analysis.tables import EVALUATION_CHOICES, Provenance, load_reference
from analysis.writing import write_tables

start(snakemake)
params, out = snakemake.params, snakemake.output
records = [json.loads(Path(p).read_text()) for p in snakemake.input.provenance]
try:
    made = check_scores(records, params.expected, f"results/{params.preset}")
except ProvenanceError as err:
    refuse(str(err))  # one line; no table is written
settings = {**{k: v for k, v in made.items() if k != "code"}, "tables": params.settings}
made_hash = settings_hash(settings)
per_method = {method: settings_hash(train) for method, train in made["train"].items()}
provenance = Provenance(project_commit(), made_hash, params.preset, EVALUATION_CHOICES, method_settings=per_method)
paths = write_tables(
    pd.read_csv(snakemake.input.scores),
    Path(out.comparison).parent,
    provenance,
    load_reference(snakemake.input.reference),
    n_boot=params.settings["bootstrap"],
    seed=params.settings["seed"],
    truth=params.settings["truth"],
    subsets=params.settings["subsets"],
    units=params.settings["units"]["of"],
    unit=params.settings["units"]["by"],
)
# What the tables' `config_hash` stands for: the settings every input was made with, and the code of each stage.
code = {**made["code"], "tables": params.code}
write_json_atomic(out.provenance, {"config_hash": made_hash, "settings": settings, "code": code})
print("wrote", *sorted(str(p) for p in paths.values()))
