"""Score every generated image of one method (one scoring job: models load once) against its reference(s), and
record what the scored images were made with (scores/<method>.json: the tables check it)."""

import json
from pathlib import Path

import pandas as pd
from _common import start
from _outputs import write_json_atomic
from _provenance import settings_hash

from metrics import MetricConfig
from metrics.score import GeneratedImage, Scorer, write_rows

runtime = start(snakemake)
settings = snakemake.params.settings  # workflow/scripts/_settings.py: metric_settings
options = {**settings["options"], "device": runtime.device, **runtime.metric_options, "progress": False}
if settings["metric_weights"] == "random":  # the seeded random weights this rule's inputs hold
    options["weights"] = {**options.get("weights", {}), **{Path(w).stem: w for w in snakemake.input.weights}}
scorer = Scorer(MetricConfig.from_dict(options))
images = {Path(p).stem: p for p in snakemake.input.images}  # the prepared training views
frames, items, known = [], [], {}
for manifest, provenance_file in zip(snakemake.input.manifests, snakemake.input.provenance, strict=True):
    table = pd.read_csv(manifest, dtype={"prompt": str, "clip_t_prompt": str})
    for (task, content, style), group in table.groupby(["task", "content_image", "style_image"], sort=False):
        reference = images[content] if task == "decomposition" else {"content": images[content], "style": images[style]}
        folder = Path(manifest).parent
        items_ = [  # CLIP-T reads the prompt without the placeholder token
            GeneratedImage(folder / r.file, r.image_id, r.method, r.kind, r.mode, r.clip_t_prompt, r.seed)
            for r in group.itertuples()
        ]
        rows = scorer.score(items_, reference, settings["metrics"])
        extra = group.set_index(group["file"].map(lambda f, d=folder: str(d / f)))
        for column in ("content_image", "style_image", "train_seed", "task", "prompt_id", "prompt", "clip_t_prompt"):
            rows[column] = rows["file"].map(extra[column])
        frames.append(rows)
    made = json.loads(Path(provenance_file).read_text())
    for entry in (made["sample"], *(run["settings"] for run in made["runs"])):
        known[settings_hash(entry)] = entry
    first = table.iloc[0]
    trained_at = sorted({run["effective"] for run in made["runs"] if run["effective"]})  # the base model: none
    items.append(
        {
            "manifest": manifest,
            "task": first["task"],
            "content_image": first["content_image"],
            "style_image": first["style_image"],
            "train_seed": int(first["train_seed"]),
            "sample": settings_hash(made["sample"]),
            "runs": [settings_hash(run["settings"]) for run in made["runs"]],
            "code": {"sample": made["code"], "train": sorted({str(run["code"]) for run in made["runs"]})},
            "effective": {
                "sample": made["effective"],
                "train": sorted({r["effective"] for r in made["runs"] if r["effective"]}),
            },
        }
    )
scores = pd.concat(frames, ignore_index=True)
write_rows(scores, snakemake.output.scores)
method = snakemake.wildcards.method
record = {"method": method, "metric": settings, "code": snakemake.params.code, "settings": known, "items": items}
write_json_atomic(snakemake.output.provenance, record)
print(f"{len(scores)} score rows")
