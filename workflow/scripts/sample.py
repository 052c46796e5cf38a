"""Render one run's evaluation images (rule sample) or one cross-image recombination (rule recombine)."""

import yaml
from _common import run_folder, start
from _outputs import write_json_atomic

from unziplora.config import SampleConfig
from unziplora.generate import load_run
from unziplora.pipelines import load_pipeline
from unziplora.sampling import PromptSets, sample_run

runtime = start(snakemake)
inputs, params = snakemake.input, snakemake.params
settings = params.settings  # workflow/scripts/_settings.py: sample_settings
records = [inputs.run] if "run" in inputs.keys() else [inputs.content, inputs.style]
runs = [load_run(run_folder(r)) for r in records]
with open(inputs.prompts) as fh:
    prompt_sets = PromptSets.from_dict(yaml.safe_load(fh))
pipe = load_pipeline(settings["model"], revision=settings["model_revision"])
manifest = sample_run(
    pipe,
    runs,
    params.names,
    prompt_sets,
    SampleConfig(**settings["sample"], batch_size=runtime.sample_batch_size, device=runtime.device, progress=False),
    settings["modes"],
    run_folder(snakemake.output.manifest),
    train_seed=int(snakemake.wildcards.train_seed),
    model=settings["model"],
)
# What these images were made with: the sample settings and each run's own record of its settings and code.
# Effective precisions: `device` changes no setting, but under an `auto` precision it changes the arithmetic; the
# tables refuse a mix (_checks.py).
provenance = {
    "sample": settings,
    "code": params.code,
    "effective": f"{str(pipe.unet.dtype).removeprefix('torch.')} on {pipe.device.type}",
    "runs": [
        {
            "settings": run.record.get("settings"),
            "code": run.record.get("code"),
            "effective": (  # the base model trains nothing: no training precision
                f"{run.record['precision']} on {run.record['device']['type']}" if "precision" in run.record else None
            ),
        }
        for run in runs
    ],
}
write_json_atomic(snakemake.output.provenance, provenance)
print(f"wrote {manifest}")
