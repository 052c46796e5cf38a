"""Concatenate the per-method score files into one table."""

import pandas as pd
from _common import start

from metrics.rows import write_rows

start(snakemake)
scores = pd.concat([pd.read_csv(f) for f in snakemake.input], ignore_index=True)
write_rows(scores, snakemake.output[0])
print(f"{len(scores)} rows from {len(snakemake.input)} methods")
