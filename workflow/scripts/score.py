"""Score every generated image of one method (one scoring job: models load once) against its reference(s)."""

from pathlib import Path

import pandas as pd
from _common import start

from metrics import MetricConfig
from metrics.score import GeneratedImage, Scorer, write_rows

config = start(snakemake)
options = {"device": config["device"], "progress": False, **config["metric_options"]}
if config["metric_weights"] == "random":
    options["weights"] = {Path(w).stem: w for w in snakemake.input.weights}
scorer = Scorer(MetricConfig.from_dict(options))
images = {Path(p).stem: p for p in snakemake.input.images}  # the prepared training views
frames = []
for manifest in snakemake.input.manifests:
    table = pd.read_csv(manifest, dtype={"prompt": str, "clip_t_prompt": str})
    for (task, content, style), group in table.groupby(["task", "content_image", "style_image"], sort=False):
        reference = images[content] if task == "decomposition" else {"content": images[content], "style": images[style]}
        folder = Path(manifest).parent
        items = [  # CLIP-T reads the prompt without the placeholder token
            GeneratedImage(folder / r.file, r.image_id, r.method, r.kind, r.mode, r.clip_t_prompt, r.seed)
            for r in group.itertuples()
        ]
        rows = scorer.score(items, reference, config["metrics"])
        extra = group.set_index(group["file"].map(lambda f, d=folder: str(d / f)))
        for column in ("content_image", "style_image", "train_seed", "task", "prompt_id", "prompt", "clip_t_prompt"):
            rows[column] = rows["file"].map(extra[column])
        frames.append(rows)
scores = pd.concat(frames, ignore_index=True)
write_rows(scores, snakemake.output[0])
print(f"{len(scores)} score rows")
