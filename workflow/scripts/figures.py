"""Metric bars, the ablation plot and the LoRA analysis (per-layer similarity, column-mask fractions)."""

import json
from pathlib import Path

import pandas as pd
from _common import run_folder, start

from analysis import figures

start(snakemake)
inputs, out = snakemake.input, snakemake.output
figures.metric_bars(pd.read_csv(inputs.comparison), Path(out.metric_bars).with_suffix(""))
figures.ablation_plot(pd.read_csv(inputs.ablation), Path(out.ablation_plot).with_suffix(""))
records = {json.loads(Path(r).read_text())["method"]: json.loads(Path(r).read_text()) for r in inputs.runs}
trained = {m: run_folder(r) for m, r in zip(records, inputs.runs, strict=True) if records[m].get("files")}
figures.lora_similarity(trained, Path(out.lora_similarity).with_suffix(""))
figures.mask_fractions(records, Path(out.mask_fractions).with_suffix(""))
