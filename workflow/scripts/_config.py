"""The workflow config at planning: the preset under the user's keys, validated once, and what each key changes
(`KEYS`). Jobs never import this module (editing it reruns nothing): what they may read of the config is
`_runtime.Runtime`; every other setting reaches a job only as its rule's `settings` param (`_settings.py`).
"""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
import types
import typing
from pathlib import Path

import yaml
from _runtime import RUNTIME_FIELDS

from plumbing.mappings import deep_merge


class ConfigError(ValueError):
    """A config problem, as one line naming the key and the fix."""


#: Every config key (dotted for nested ones) → the stages whose outputs it changes. "selection": which jobs exist
#: (adding an image or a method runs only the new jobs; tables and figures are rebuilt over the new set). "data": the
#: prepared images and all that follows. "nothing": scheduling, devices, logging — no output changes, nothing reruns.
#: "refused": planning stops with one line (the value comes from elsewhere).
#: A train change stops planning for runs that already exist (their LoRAs are protected: remove them to retrain).
#: Tested: tests/test_settings.py changes each key and compares the rules' `settings` params; the table with notes is
#: docs/reruns-and-provenance.md.
KEYS: dict[str, tuple[str, ...]] = {
    "preset": ("everything",),  # another results/<preset>/ folder
    "description": ("report",),
    "sheet": ("data", "train", "sample", "tables"),  # files and checksums; names (prompts); truth and subset columns
    "images_dir": ("nothing",),  # where the files are read from; their sha256 is checked either way
    "images": ("selection",),
    "methods": ("selection",),
    "model": ("train", "sample"),
    "model_revision": ("train", "sample"),
    "device": ("nothing",),
    "token": ("train",),  # the training prompts; sampling reads the token from the run record
    "train_seeds": ("selection",),
    "train.method": ("refused",),  # the method is the wildcard
    "train.steps": ("train",),
    "train.seed": ("refused",),  # training seeds come from train_seeds
    "train.resolution": ("data", "train"),  # the prepared view is made at the training resolution
    "train.lora.rank": ("train",),
    "train.lora.init": ("train",),
    "train.lora.lr": ("train",),
    "train.optimizer.name": ("train",),
    "train.optimizer.weight_decay": ("train",),
    "train.optimizer.betas": ("train",),
    "train.optimizer.eps": ("train",),
    "train.optimizer.max_grad_norm": ("train",),
    "train.columns.merger_lr": ("train",),  # column methods only (M2, M3); the others record no column setting
    "train.columns.ratio": ("train",),
    "train.columns.rounds": ("train",),
    "train.columns.cone_threshold": ("train",),
    "train.columns.cone_grad_scale": ("train",),
    "train.columns.tie_break": ("train",),
    "train.columns.content_first": ("train",),
    "train.columns.orthogonality_weight": ("train",),
    "train.blocks.content": ("train",),  # methods with a block rule only (unziplora, blora)
    "train.blocks.style": ("train",),
    "train.mixed_precision": ("train",),
    "train.gradient_checkpointing": ("nothing",),  # memory for time; the same gradients
    "train.device": ("nothing",),
    "train.progress": ("nothing",),
    "method_train": ("train",),  # per method: the same fields as train.*, for that method only
    "sample.steps": ("sample",),
    "sample.guidance_scale": ("sample",),
    "sample.resolution": ("sample",),
    "sample.samples_per_prompt": ("sample",),
    "sample.seed": ("sample",),
    "sample.dtype": ("sample",),
    "sample.batch_size": ("nothing",),  # each image has its own generator: the same images in any batching
    "modes": ("sample",),
    "prompts": ("sample",),
    "recombination": ("selection", "figures"),
    "metrics": ("score",),
    "metric_weights": ("score",),
    "metric_options.weights": ("score",),
    "metric_options.revisions": ("score",),
    "metric_options.models": ("score",),
    "metric_options.device": ("nothing",),
    "metric_options.batch_size": ("nothing",),
    "metric_options.cache_dir": ("nothing",),
    "metric_options.converted_dir": ("nothing",),
    "metric_options.offline": ("nothing",),
    "metric_options.progress": ("nothing",),
    "tables.bootstrap": ("tables",),
    "tables.seed": ("tables",),
    "tables.subsets_by": ("tables",),
    "tables.units_by": ("tables",),
    "threads": ("nothing",),
    "resources": ("nothing",),
}


def output_settings(config: dict) -> dict:
    """The config less every key that changes no output (KEYS: "nothing"): what `results/<preset>/config.yaml`
    shows, so that a scheduling or device change remakes nothing, not even that file."""
    out = {k: v for k, v in config.items() if KEYS.get(k) != ("nothing",)}
    for section, fields in RUNTIME_FIELDS.items():
        if isinstance(out.get(section), dict):
            out[section] = {k: v for k, v in out[section].items() if k not in fields}
    kept = {
        m: {k: v for k, v in o.items() if k not in RUNTIME_FIELDS["train"]} for m, o in config["method_train"].items()
    }
    out["method_train"] = {m: options for m, options in kept.items() if options}  # none left: as if never given
    return json.loads(json.dumps(out, sort_keys=True, default=str))  # key order: a --config key must not reorder it


def load_preset(root: Path, name: str) -> dict:
    """The preset file's settings (following `extends:`)."""
    path = Path(root) / "config" / "presets" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ConfigError(f"unknown preset {name!r}; choose one of: auto, {', '.join(known)}")
    data = yaml.safe_load(path.read_text()) or {}
    parent = data.pop("extends", None)
    return deep_merge(load_preset(root, parent), data) if parent else data


def typed(value, schema: dict):
    """A --config value with the types the schema asks for: Snakemake reads nested --config values as strings
    (`train={steps: 100}` gives "100"), so strings where the schema wants no string are read as YAML numbers."""
    if isinstance(value, dict):
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        return {k: typed(v, props.get(k, extra if isinstance(extra, dict) else {})) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v, schema.get("items", {})) for v in value]
    wanted = schema.get("type", [])
    if not isinstance(value, str) or "string" in (wanted if isinstance(wanted, list) else [wanted]):
        return value
    # Numbers, true/false/null and YAML lists or mappings; any other word stays a string (YAML 1.1 would read
    # "on"/"off"/"yes"/"no" as booleans: `gradient_checkpointing: on` must stay "on").
    if re.fullmatch(r"[-+]?\d*\.?\d+([eE][-+]?\d+)?", value):
        return float(value) if re.search(r"[.eE]", value) else int(value)
    if value in ("true", "false", "null") or value[:1] in "[{":
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            return value
    return value


def schema_problem(data, schema: dict) -> str | None:
    """The most relevant schema violation of `data`, as "key: message", or None."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(schema).iter_errors(data))
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


def field_schema(kind) -> dict:
    """The JSON schema of one dataclass field's type (int, float, bool, str, Literal, tuples, dicts, optional)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Literal:
        return {"type": "string", "enum": list(args)}
    if origin in (types.UnionType, typing.Union):
        parts = [field_schema(a) for a in args if a is not type(None)]
        one = parts[0] if len(parts) == 1 else {"anyOf": parts}
        return {"anyOf": [one, {"type": "null"}]} if type(None) in args else one
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": field_schema(args[0])}
        return {"type": "array", "items": field_schema(args[0]), "minItems": len(args), "maxItems": len(args)}
    if origin is dict:
        return {"type": "object", "additionalProperties": field_schema(args[1])}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    return {"type": simple[kind]}


def options_schema(cls) -> dict:
    """The schema of a config object built from a dataclass (TrainConfig, MetricConfig): one property per field,
    with the field's type and default, nothing else allowed; a field that is itself a dataclass (TrainConfig.lora)
    nests its own. Generated, so the schema and the class never drift."""
    hints = typing.get_type_hints(cls)
    props = {}
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            props[f.name] = options_schema(hints[f.name])
            continue
        props[f.name] = field_schema(hints[f.name])
        if f.default is not dataclasses.MISSING:
            props[f.name]["description"] = f"default {f.default!r}"
    return {"type": "object", "additionalProperties": False, "properties": props}


#: The workflow's `sample` keys → SampleConfig fields; the rest of SampleConfig is set per call (kind, mode) or is the
#: sampling code's own choice (sampler, vae_precision), device and progress come from the runtime.
SAMPLE_FIELDS = {"steps": "steps", "guidance_scale": "guidance_scale", "resolution": "resolution",
                 "samples_per_prompt": "num", "seed": "seed", "batch_size": "batch_size", "dtype": "dtype"}  # fmt: skip


def load_schema(root: Path) -> dict:
    """workflow/schemas/config.schema.yaml with the option objects' properties generated from their classes:
    `train` and each `method_train` entry from TrainConfig, `metric_options` from MetricConfig, `sample` from
    SampleConfig (with its defaults, which planning fills in), and the token's default from the prompt template."""
    from metrics.config import MetricConfig
    from unziplora.config import DEFAULT_TOKEN, SampleConfig, TrainConfig

    schema = yaml.safe_load((Path(root) / "workflow" / "schemas" / "config.schema.yaml").read_text())
    props = schema["properties"]
    train = options_schema(TrainConfig)
    props["train"] |= train
    props["method_train"]["additionalProperties"] = train
    props["metric_options"] |= options_schema(MetricConfig)
    sample, default = options_schema(SampleConfig)["properties"], SampleConfig()
    props["sample"] |= {"additionalProperties": False, "properties": {
        key: sample[name] | {"default": getattr(default, name)} for key, name in SAMPLE_FIELDS.items()}}  # fmt: skip
    props["token"]["default"] = DEFAULT_TOKEN
    return schema


def resolve_config(raw: dict, root: Path, preset: str) -> dict:
    """The preset `preset` under the user's keys of `raw`, validated against the schema with its defaults filled.
    Raises ConfigError with one line."""
    from snakemake.utils import validate

    schema = load_schema(root)
    user = typed({k: v for k, v in raw.items() if k != "preset"}, schema)
    merged = deep_merge(load_preset(root, preset), user)
    merged["preset"] = preset
    problem = schema_problem(merged, schema)
    if problem:
        raise ConfigError(f"invalid config: {problem}; fix it in --config/--configfile or config/presets/{preset}.yaml")
    with tempfile.TemporaryDirectory() as tmp:  # Snakemake's own validation fills the defaults; it reads a file
        path = Path(tmp) / "config.schema.yaml"
        path.write_text(yaml.safe_dump(schema))
        validate(merged, str(path))
    return merged
