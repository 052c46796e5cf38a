"""Train one method on one image (or write the base model's record) into its run folder."""

from _common import run_folder, start

from unziplora.config import PromptSet, TrainConfig
from unziplora.methods import METHODS
from unziplora.pipelines import load_pipeline
from unziplora.train import train

runtime = start(snakemake)
settings = snakemake.params.settings  # the run's settings, whole (workflow/scripts/_settings.py: run_settings)
# The TrainConfig: the resolved fields (empty for the base model), the wildcards, and the fields that change no output.
options = {**settings.get("train", {}), "method": settings["method"], "seed": settings["seed"]}
parent = METHODS[settings["method"]].variant_of  # a variant takes its parent's runtime fields too
train_config = TrainConfig.from_dict({**options, **runtime.train_options(settings["method"], parent)})
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
