"""Probe one run's column selection: train up to the last selection round, write the kept fractions, no LoRA."""

from _common import start
from _outputs import write_json_atomic

from unziplora.column_probe import probe_columns
from unziplora.config import PromptSet
from unziplora.pipelines import load_pipeline

runtime = start(snakemake)
settings = snakemake.params.settings  # the run's settings, whole, as train_run gets them
config = runtime.train_config(settings)
pipe = load_pipeline(settings["model"], revision=settings["model_revision"])
rows, record = probe_columns(pipe, snakemake.input.image, PromptSet(**settings["prompts"]), config)
kept = {"device": record["device"], "timing": record["timing"], "cost": record["cost"], "versions": record["versions"]}
write_json_atomic(
    snakemake.output[0],
    {"settings": settings, "code": snakemake.params.code, "ratio": config.columns.ratio, "rows": rows, **kept},
)
steps, seconds = record["cost"]["steps_per_image"], record["timing"]["train_s"]
print(f"column probe {settings['method']} on {snakemake.wildcards.image}: {steps} steps, {seconds:.1f} s")
