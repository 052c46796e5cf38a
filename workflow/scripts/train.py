"""Train one method on one image (or write the base model's record) into its run folder."""

from _common import run_folder, start

from unziplora.config import PromptSet, TrainConfig
from unziplora.methods import method_settings
from unziplora.pipelines import load_pipeline
from unziplora.train import train

config = start(snakemake)
wc, params = snakemake.wildcards, snakemake.params
overrides = {
    **method_settings(config["train"], config["method_train"], wc.method),
    "seed": int(wc.train_seed),
    "device": config["device"],
}
train_config = TrainConfig.for_method(wc.method, **overrides)
prompts = PromptSet.from_names(params.names["content"], params.names["style"], token=config["token"])
pipe = load_pipeline(params.model, revision=config["model_revision"])
record = train(
    pipe,
    snakemake.input.image,
    prompts,
    train_config,
    run_folder(snakemake.output.record),
    model=params.model,
)
print(f"trained {wc.method} on {wc.image}: {record.get('cost')}")
