"""The settings each stage's outputs depend on: resolved from the workflow config at planning and handed to the
stage's jobs whole, as their rule's `settings` param, so a change reruns exactly the jobs it affects. Planning only
(jobs never import it, so editing it reruns nothing).

Jobs record what they were handed beside their outputs (`run.json`'s `settings`, the samples' `provenance.json`,
`scores/<method>.json`), and the tables compare those with what the config resolves now (`_provenance.py`). Which
config key lands in which stage: `_config.KEYS`.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from _config import SAMPLE_FIELDS
from _provenance import plain
from _runtime import RUNTIME_FIELDS

from metrics.config import MetricConfig
from unziplora.config import PromptSet, SampleConfig, TrainConfig
from unziplora.dataset import sha256_of
from unziplora.methods import METHODS, method_settings


def train_settings(config: dict, method: str, model: str) -> dict:
    """What a method's runs depend on, shared by its images and training seeds: the base model, and for a trained
    method its TrainConfig (registry defaults, then the preset's `train` and `method_train`, then a variant's pins),
    less the fields that change no output (`_config.RUNTIME_FIELDS`), the seed and the method (both wildcards)."""
    out = {"method": method, "model": model, "model_revision": config["model_revision"]}
    spec = METHODS[method]
    if not spec.trains:
        return plain(out)
    options = method_settings(config["train"], config["method_train"], method)
    options = {k: v for k, v in options.items() if k not in RUNTIME_FIELDS["train"]}
    values = TrainConfig.for_method(method, **options).to_dict(column_separation=spec.column_separation)
    for name in (*RUNTIME_FIELDS["train"], "seed", "method"):
        values.pop(name)
    return plain({**out, "train": values})  # keyed as in the config, so a difference reads "train.steps"


def prompt_settings(config: dict, names: dict) -> dict:
    """The training prompts of an image (its sheet names and the token)."""
    return plain(asdict(PromptSet.from_names(names["content"], names["style"], token=config["token"])))


def sample_settings(config: dict, model: str, prompt_sha256: str | None) -> dict:
    """What every sample and recombine job depends on (besides its runs): the SampleConfig fields that change an
    image, the combined modes, the base model, and the prompt file's checksum."""
    values = asdict(SampleConfig(**{name: config["sample"][key] for key, name in SAMPLE_FIELDS.items()}))
    for name in ("kind", "mode", "batch_size", "device", "progress"):  # per call, or no effect on an image
        values.pop(name)
    return plain(
        {
            "sample": values,  # keyed as in the config: a difference reads "sample.steps"
            "modes": list(config["modes"]),
            "model": model,
            "model_revision": config["model_revision"],
            "prompts": {"file": config["prompts"], "sha256": prompt_sha256},
        }
    )


def metric_settings(config: dict) -> dict:
    """What a score job depends on: the metrics, where their weights come from, and the model of each metric."""
    options = {k: v for k, v in config["metric_options"].items() if k not in RUNTIME_FIELDS["metric_options"]}
    resolved = MetricConfig.from_dict(options)
    return plain(
        {
            "metrics": list(config["metrics"]),
            "metric_weights": config["metric_weights"],
            "options": options,
            "models": {m: resolved.model_for(m) for m in config["metrics"]},
        }
    )


def prepare_resolution(config: dict) -> int:
    """The size of the prepared training view: the preset's training resolution, at least the 64 px every image loader
    accepts (training resizes it again)."""
    return max(64, int(config["train"].get("resolution", 1024)))


def table_settings(config: dict, subsets: dict[str, list[str]], truth: dict[str, dict], units: dict) -> dict:
    """What make_tables depends on besides its inputs: the bootstrap's resamples and seed, the subsets of images
    (`tables.subsets_by` over the sheet), the toy world's truth per image (the sheet's true_shape/true_style) and the
    bootstrap's unit (`tables.units_by`: {"by": column, "of": {image id: unit}}; by "image" when not set)."""
    return plain({"bootstrap": config["tables"]["bootstrap"], "seed": config["tables"]["seed"], "subsets": subsets,
                  "truth": truth, "units": units})  # fmt: skip


def model_path(config: dict) -> str:
    """The base pipeline a preset loads: the tiny pipeline's folder (built by a rule), else `model` as given."""
    return f"results/{config['preset']}/model" if config["model"] == "tiny" else config["model"]


def expected_settings(config: dict, sheet: dict[str, dict], methods: list[str]) -> dict:
    """Every setting the outputs of a selection must have been made with: "train" per method, "prompts" and
    "images" (the training file, its sha256 and the prepared size) per image (`sheet`: image id → its sheet's
    content, style, train_file and sha256), "sample" and "metric". What the train jobs are handed
    (`_provenance.run_settings`) and make_tables checks its inputs against; raises ValueError naming the method or
    section whose options are invalid."""
    model, prompts = model_path(config), config["prompts"]  # a missing prompt file: Snakemake names the input
    train = {}
    for method in methods:
        try:
            train[method] = train_settings(config, method, model)
        except (TypeError, ValueError) as err:
            raise ValueError(f"train/method_train for {method}: {err}") from None
    try:
        metric = metric_settings(config)
    except (TypeError, ValueError) as err:
        raise ValueError(f"metric_options: {err}") from None
    try:
        sample = sample_settings(config, model, sha256_of(prompts) if Path(prompts).is_file() else None)
    except (TypeError, ValueError) as err:
        raise ValueError(f"sample: {err}") from None
    return {
        "train": train,
        "prompts": {image: prompt_settings(config, row) for image, row in sheet.items()},
        "images": {
            image: {"file": row["train_file"], "sha256": row["sha256"], "resolution": prepare_resolution(config)}
            for image, row in sheet.items()
        },
        "sample": sample,
        "metric": metric,
    }
