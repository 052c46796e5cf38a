"""The oracle figure over all images and per subset (the toy tiers), one per oracle table."""

from pathlib import Path

import pandas as pd
from _common import start

from analysis.oracle_figure import oracle_bars

start(snakemake)
for table, png, title in zip(snakemake.input.tables, snakemake.output.png, snakemake.params.titles, strict=True):
    oracle_bars(pd.read_csv(table), Path(png).with_suffix(""), title=title)
