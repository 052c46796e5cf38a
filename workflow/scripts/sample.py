"""Render one run's evaluation images (rule sample) or one cross-image recombination (rule recombine)."""

import yaml
from _common import run_folder, start

from unziplora.config import SampleConfig
from unziplora.generate import load_run
from unziplora.pipelines import load_pipeline
from unziplora.sampling import PromptSets, sample_run

config = start(snakemake)
inputs, params = snakemake.input, snakemake.params
records = [inputs.run] if "run" in inputs.keys() else [inputs.content, inputs.style]
runs = [load_run(run_folder(r)) for r in records]
with open(inputs.prompts) as fh:
    prompt_sets = PromptSets.from_dict(yaml.safe_load(fh))
s = config["sample"]
sample_config = SampleConfig(
    steps=s["steps"],
    guidance_scale=s["guidance_scale"],
    resolution=s["resolution"],
    num=s["samples_per_prompt"],
    seed=s["seed"],
    batch_size=s["batch_size"],
    dtype=s["dtype"],
    device=config["device"],
    progress=False,
)
pipe = load_pipeline(params.model, revision=config["model_revision"])
manifest = sample_run(
    pipe,
    runs,
    params.names,
    prompt_sets,
    sample_config,
    config["modes"],
    run_folder(snakemake.output.manifest),
    train_seed=int(snakemake.wildcards.train_seed),
    model=params.model,
)
print(f"wrote {manifest}")
