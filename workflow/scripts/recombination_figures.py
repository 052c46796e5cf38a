"""The recombination matrix of every method: contents × styles (first combined prompt, first mode, first seed)."""

from pathlib import Path

import pandas as pd
from _common import start

from analysis.figures import recombination_matrix

start(snakemake)
cells = {}  # method -> {(content, style): png}
for manifest in snakemake.input.manifests:
    table = pd.read_csv(manifest).sort_values(["prompt_id", "mode", "seed"], kind="stable")
    row = table.iloc[0]
    cells.setdefault(row.method, {})[(row.content_image, row.style_image)] = Path(manifest).parent / row.file
for method, found in cells.items():
    out = Path(snakemake.output[method]).with_suffix("")
    recombination_matrix(found, snakemake.params.contents, snakemake.params.styles, out)
