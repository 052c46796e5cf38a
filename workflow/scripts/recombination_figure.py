"""The recombination matrix of one method: contents × styles (first combined prompt, first mode, first seed)."""

from pathlib import Path

import pandas as pd
from _common import start

from analysis.figures import recombination_matrix

start(snakemake)  # noqa: F821 - injected by Snakemake
cells = {}
for manifest in snakemake.input.manifests:  # noqa: F821
    table = pd.read_csv(manifest).sort_values(["prompt_id", "mode", "seed"], kind="stable")
    row = table.iloc[0]
    cells[(row.content_image, row.style_image)] = Path(manifest).parent / row.file
params = snakemake.params  # noqa: F821
recombination_matrix(cells, params.contents, params.styles, Path(snakemake.output.png).with_suffix(""))  # noqa: F821
