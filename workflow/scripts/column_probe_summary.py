"""The column probe's tables (per layer, per run, per method and round) and its figure."""

import json
from pathlib import Path

import pandas as pd
from _common import start

from analysis.column_probe import kept_figure, kept_per_run, kept_summary
from analysis.writing import write_table_csv

start(snakemake)
out = snakemake.output
frames, ratio = [], {}
for path in snakemake.input:
    probe = json.loads(Path(path).read_text())
    method, seed = probe["settings"]["method"], probe["settings"]["seed"]
    image = Path(path).parent.name
    ratio[method] = probe["ratio"]
    frames.append(pd.DataFrame(probe["rows"]).assign(method=method, image=image, train_seed=seed))
layers = pd.concat(frames, ignore_index=True)
per_run = kept_per_run(layers)
summary = kept_summary(per_run, ratio)
for frame, path in ((layers, out.layers), (per_run, out.runs), (summary, out.summary)):
    write_table_csv(frame, Path(path))
kept_figure(summary, Path(out.figure).with_suffix(""), f"{snakemake.params.preset}: columns the selection keeps")
print("wrote", out.layers, out.runs, out.summary, out.figure)
