"""One image's grid: input | content-only | style-only | combined per mode, one row per method."""

from pathlib import Path

import pandas as pd
from _common import start

from analysis.figures import image_grid

start(snakemake)
rows = []
for manifest in snakemake.input.manifests:
    table = pd.read_csv(manifest).sort_values(["prompt_id", "seed"], kind="stable")
    first = table.groupby(["kind", "mode"], sort=False).head(1)  # first prompt, first seed of each kind and mode
    cells = {(r.kind if r.kind != "combined" else r.mode): Path(manifest).parent / r.file for r in first.itertuples()}
    rows.append((table["method"].iloc[0], cells))
image_grid(Path(snakemake.input.image), rows, Path(snakemake.output.png).with_suffix(""))
