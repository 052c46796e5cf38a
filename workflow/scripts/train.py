"""Train one method on one image (or write the base model's record) into its run folder."""

from _common import run_folder, start

from unziplora.config import PromptSet
from unziplora.pipelines import load_pipeline
from unziplora.train import train

runtime = start(snakemake)
settings = snakemake.params.settings  # the run's settings, whole (workflow/scripts/_settings.py: run_settings)
train_config = runtime.train_config(settings)
pipe = load_pipeline(settings["model"], revision=settings["model_revision"])
record = train(
    pipe,
    snakemake.input.image,
    PromptSet(**settings["prompts"]),
    train_config,
    run_folder(snakemake.output.record),
    model=settings["model"],
    provenance={"settings": settings, "code": snakemake.params.code},
)
print(f"trained {settings['method']} on {snakemake.wildcards.image}: {record.get('cost')}")
