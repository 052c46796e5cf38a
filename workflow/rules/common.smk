# Planning: the preset, the validated config, the image sheet, the selection, and the paths every rule shares.
# Light imports only (no torch, diffusers or open_clip): method and metric keys come from the light registries.

import hashlib
import json
import os
import posixpath
import re
import sys
from pathlib import Path

import pandas as pd
import yaml
from snakemake.utils import validate

from metrics.config import MetricConfig
from metrics.registry import METRICS, MODELS
from unziplora.config import TrainConfig
from unziplora.devices import visible_gpus
from unziplora.methods import METHODS, method_settings, standard_methods, trained_methods

ROOT = Path(workflow.basedir)
#: Where the packages the jobs import live (the checkout for an editable install; PYTHONPATH can point elsewhere).
PACKAGES = Path(sys.modules["unziplora.methods"].__file__).resolve().parents[1]
PRESET_ENV = "UNZIPLORA_PRESET"  # the preset the user's process resolved; every job inherits it


def fail(message):
    """Stop planning with one line naming the problem and the fix (before any job starts), exit status 1."""
    sys.exit(f"unziplora workflow: error: {message}")


def resolve_preset(requested):
    """`auto` → paper with a CUDA GPU, else toy; resolved once by the user's process and inherited by every job
    (through the environment), so a job on another node never re-decides."""
    if requested != "auto":
        return requested
    if os.environ.get(PRESET_ENV):
        return os.environ[PRESET_ENV]
    gpus, why = visible_gpus()
    chosen = "paper" if gpus else "toy"
    print(
        f"preset auto -> {chosen} ({why}); "
        "choose explicitly with --config preset=paper|paper-mini|toy|toy-full|smoke|tiny",
        file=sys.stderr,
    )
    os.environ[PRESET_ENV] = chosen
    return chosen


def deep_merge(base, over):
    """`over` on top of `base`, recursively for mappings."""
    out = dict(base)
    for key, value in over.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_preset(name):
    """The preset file's settings (following `extends:`)."""
    path = ROOT / "config" / "presets" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (ROOT / "config" / "presets").glob("*.yaml"))
        fail(f"unknown preset {name!r}; choose one of: auto, {', '.join(known)}")
    data = yaml.safe_load(path.read_text()) or {}
    parent = data.pop("extends", None)
    return deep_merge(load_preset(parent), data) if parent else data


def code_hash(*patterns):
    """A hash of package source files: a rule's param, so editing the code a rule runs reruns that rule (Snakemake's
    own code trigger sees only the rule's script)."""
    digest = hashlib.sha256()
    for pattern in patterns:
        for path in sorted(PACKAGES.glob(pattern)):
            digest.update(str(path.relative_to(PACKAGES)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def typed(value, schema):
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
    try:
        return float(value) if re.fullmatch(r"[-+]?\d*\.?\d+[eE][-+]?\d+", value) else yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def checked_config(raw):
    """Preset under the user's keys, validated against the schema (defaults filled), with one-line errors."""
    preset = resolve_preset(raw.get("preset", "auto"))
    schema = ROOT / "workflow" / "schemas" / "config.schema.yaml"
    user = typed({k: v for k, v in raw.items() if k != "preset"}, yaml.safe_load(schema.read_text()))
    merged = deep_merge(load_preset(preset), user)
    merged["preset"] = preset
    problem = schema_problem(merged, schema)
    if problem:
        fail(f"invalid config: {problem}; fix it in --config/--configfile or config/presets/{preset}.yaml")
    validate(merged, str(schema))  # Snakemake's own validation, which fills the schema's defaults
    return merged


def schema_problem(data, schema_file):
    """The most relevant schema violation of `data`, as "key: message", or None."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(yaml.safe_load(Path(schema_file).read_text())).iter_errors(data))
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


def read_sheet(path):
    """The image sheet, validated, indexed by id."""
    if not Path(path).is_file():
        fail(f"image sheet {path} does not exist; set `sheet` to a TSV like data/images.tsv")
    sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    sheet["draw_seed"] = pd.to_numeric(sheet.get("draw_seed", 0), errors="coerce").fillna(0).astype(int)
    schema = ROOT / "workflow" / "schemas" / "images.schema.yaml"
    for number, row in enumerate(sheet.to_dict("records"), start=2):
        problem = schema_problem(row, schema)
        if problem:
            fail(f"invalid image sheet {path}, line {number}: {problem}; fix the sheet")
        if row["train_file"] not in row["files"].split(";"):
            fail(f"image sheet {path}, line {number}: train_file {row['train_file']!r} is not one of its files")
    validate(sheet, str(schema))
    if sheet["id"].duplicated().any():
        fail(f"image sheet {path} repeats id {sheet['id'][sheet['id'].duplicated()].iloc[0]!r}; ids must be unique")
    return sheet.set_index("id", drop=False)


def pick(requested, known, what, fix, default=None):
    """`requested` (empty = `default`, or all of `known`), refusing unknown entries with one line."""
    unknown = [x for x in requested if x not in known]
    if unknown:
        fail(f"unknown {what} {unknown[0]!r}; {fix}")
    return list(requested) or list(known if default is None else default)


def train_source(image):
    """(local path or None, url or None, sha256) of an image's training file."""
    row = SHEET.loc[image]
    files = row["files"].split(";")
    index = files.index(row["train_file"])
    urls = row["source_urls"].split(";") if row["source_urls"] else []
    local = None
    if config["images_dir"]:
        base = Path(config["images_dir"])
        candidates = [base / image / row["train_file"], base / row["train_file"]]
        local = next((c for c in candidates if c.is_file()), candidates[0])
    return local, (urls[index] if urls else None), row["sha256"].split(";")[index]


def check_options():
    """The free-form option objects (train, method_train, metric_options) are checked by the light config classes
    the jobs build from them, so a typo stops planning with the key's name instead of failing inside a job."""
    fix = f"fix it in --config/--configfile or config/presets/{PRESET}.yaml"
    unknown = sorted(set(config["method_train"]) - set(METHODS))
    if unknown:
        fail(f"invalid config: method_train names unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    for method in TRAINED:
        try:
            options = {**method_settings(config["train"], config["method_train"], method), "device": config["device"]}
            TrainConfig.for_method(method, **options)
        except (TypeError, ValueError) as err:
            fail(f"invalid config: train/method_train for {method}: {err}; {fix}")
    try:
        MetricConfig.from_dict({"device": config["device"], **config["metric_options"]})
    except (TypeError, ValueError) as err:
        fail(f"invalid config: metric_options: {err}; {fix}")


def check_local_images():
    """Every selected local image exists and has its sheet's sha256: a clear message before any job starts."""
    from unziplora.dataset import sha256_of

    for image in ALL_IMAGES:
        local, url, sha = train_source(image)
        if local is None:
            if not url:
                fail(f"image {image} has no source URL and images_dir is not set; set images_dir to a local copy")
            continue
        if not local.is_file():
            fail(f"image file {local} of {image} is missing; fix images_dir or unset it to download from the sheet's URL")
        if sha256_of(local) != sha:
            fail(f"checksum mismatch for {local} ({image}); replace it with the original file or fix the sheet")


config.update(checked_config(dict(config)))
PRESET = config["preset"]
SHEET = read_sheet(config["sheet"])
IMAGES = pick(config["images"], list(SHEET.index), "image id", f"the ids are those of {config['sheet']}")
# Empty = every standard method (the variants, e.g. unziplora_sdxl_blocks, run when named: unziplora.methods).
METHOD_KEYS = pick(
    config["methods"], list(METHODS), "method", f"choose from: {', '.join(METHODS)}", standard_methods()
)
TRAINED = [m for m in METHOD_KEYS if METHODS[m].trains]
for metric in config["metrics"]:
    if metric not in METRICS:
        fail(f"unknown metric {metric!r}; choose from: {', '.join(METRICS)}")
for name in (*config["recombination"]["contents"], *config["recombination"]["styles"]):
    if name not in SHEET.index:
        fail(f"recombination image {name!r} is not in {config['sheet']}; use ids of the sheet")
PAIRS = [
    (c, s)
    for c in config["recombination"]["contents"]
    for s in config["recombination"]["styles"]
    if c != s and c in IMAGES and s in IMAGES
]
ALL_IMAGES = list(dict.fromkeys([*IMAGES, *[x for pair in PAIRS for x in pair]]))
SEEDS = config["train_seeds"]
check_options()
check_local_images()
GPU = 1 if config["device"] == "cuda" else 0  # the default GPU count of a train/sample/score job


def job_resources(stage):
    """What one job of a stage asks a scheduler for: config `resources` (mem_mb, runtime in minutes, gpu)."""
    return {"gpu": 0 if stage == "light" else GPU, **config["resources"][stage]}


def toy_resources(runtime, mem_mb):
    """A toy-world job's request (workflow/rules/toyworld.smk): the train stage's device, its own time (minutes,
    measured on 2 CPU cores, with margin) and memory; these jobs are longer than a toy training run."""
    return {**job_resources("train"), "runtime": runtime, "mem_mb": mem_mb}


STAGES = ("train", "sample", "score", "light")
if workflow.local_exec and "gpu" not in workflow.global_resources and any(job_resources(s)["gpu"] for s in STAGES):
    # Snakemake's gpu resource is a counter that caps concurrent GPU jobs; by default, one job per visible device
    # (each job then locks its own device: unziplora.devices). A cluster executor leaves it to the scheduler.
    workflow.register_resource("gpu", max(1, len(visible_gpus()[0])))

METRIC_MODELS = sorted({config["metric_options"].get("models", {}).get(m, METRICS[m].model) for m in config["metrics"]})

CODE = {
    "data": code_hash("unziplora/dataset.py", "unziplora/images.py"),
    "train": code_hash(
        "unziplora/lora/*.py",
        *[f"unziplora/{m}.py" for m in ("train", "config", "methods", "conditioning", "blocks", "images", "records")],
        *[f"unziplora/{m}.py" for m in ("pipelines", "tiny")],
    ),
    "sample": code_hash(
        "unziplora/lora/*.py",
        *[f"unziplora/{m}.py" for m in ("generate", "sampling", "config", "methods", "records", "pipelines")],
    ),
    "score": code_hash("metrics/*.py"),
    "tables": code_hash(*[f"analysis/{m}.py" for m in ("stats", "tables", "oracle", "markdown", "writing")]),
    "figures": code_hash("analysis/figures.py", "analysis/loras.py", "analysis/oracle_figure.py"),
}
# What the results depend on: scheduling settings (threads, resources) are left out, so moving to a cluster keeps it.
SETTINGS = {k: v for k, v in config.items() if k not in ("threads", "resources")}
CONFIG_HASH = hashlib.sha256(json.dumps(SETTINGS, sort_keys=True, default=str).encode()).hexdigest()[:12]


wildcard_constraints:
    preset=re.escape(PRESET),
    image="|".join(re.escape(i) for i in ALL_IMAGES),
    content="|".join(re.escape(i) for i in ALL_IMAGES),
    style="|".join(re.escape(i) for i in ALL_IMAGES),
    method="|".join(re.escape(m) for m in METHOD_KEYS),
    train_seed=r"\d+",
    model="|".join(re.escape(m) for m in MODELS),


# ---- paths -------------------------------------------------------------------------------------------------------
def under(*parts):
    """A path pattern from parts, e.g. under(R, "images/{image}.png") (POSIX separators, as Snakemake's patterns)."""
    return posixpath.join(*parts)


R = "results/{preset}"
RUN = under(R, "{method}/{image}/train{train_seed}")
RECOMBINATION = under(R, "{method}/recombination/{content}+{style}/train{train_seed}")
LOGS = under(R, "logs")
BENCH = under(R, "benchmarks")


def run_dir(method, image, seed):
    return RUN.format(preset=PRESET, method=method, image=image, train_seed=seed)


def model_input(wildcards):
    """The base pipeline as a file input: the tiny pipeline's folder (built by a rule) or a local folder's index (the
    toy world's committed base model: an input, never rebuilt), else nothing (a hub id)."""
    if config["model"] == "tiny":
        return [f"results/{PRESET}/model/model_index.json"]
    index = Path(config["model"]) / "model_index.json"
    return [str(index)] if index.is_file() else []


def model_path():
    return f"results/{PRESET}/model" if config["model"] == "tiny" else config["model"]


def samples_of(method):
    """Every sample manifest one method's scoring reads: its runs and its recombinations, per training seed."""
    out = [f"{run_dir(method, i, s)}/samples/manifest.csv" for i in IMAGES for s in SEEDS]
    out += [
        under(RECOMBINATION.format(preset=PRESET, method=method, content=c, style=s, train_seed=t), "manifest.csv")
        for c, s in PAIRS
        for t in SEEDS
    ]
    return out


def run_files():
    """Every run's files: run.json and the LoRA files."""
    return [
        under(run_dir(m, i, s), name)
        for m in METHOD_KEYS
        for i in IMAGES
        for s in SEEDS
        for name in ("run.json", *(f"{f}.safetensors" for f in METHODS[m].output_files()))
    ]


def sample_manifests():
    """Every sample manifest, recombinations included."""
    return [f for m in METHOD_KEYS for f in samples_of(m)]


def metric_weight_files(wildcards=None):
    if config["metric_weights"] != "random":
        return []
    return [f"results/{PRESET}/metric_weights/{m}.safetensors" for m in METRIC_MODELS]


def names_of(image):
    """{id, content, style} of a sheet row: what prompts are made of."""
    row = SHEET.loc[image]
    return {"id": image, "content": row["content"], "style": row["style"]}


def source_params(image):
    """[local path or None, url or None, sha256, file name] of an image's training file (a rule param)."""
    local, url, sha = train_source(image)
    return [None if local is None else str(local), url, sha, SHEET.loc[image, "train_file"]]


# ---- tables -------------------------------------------------------------------------------------------------------
#: The toy world's oracle table joins the tables when both oracle scores are computed (analysis.oracle).
ORACLE_TABLE = ["oracle"] if {"shape_right", "style_right"} <= set(config["metrics"]) else []


def table_subsets():
    """{value: image ids} of the sheet column `tables.subsets_by` over the selected images (e.g. the toy tiers)."""
    column = config["tables"]["subsets_by"]
    if not column:
        return {}
    if column not in SHEET.columns:
        fail(f"tables.subsets_by names {column!r}, which is not a column of {config['sheet']}; name one or set null")
    return {str(v): [i for i in IMAGES if SHEET.loc[i, column] == v] for v in SHEET.loc[IMAGES, column].unique()}


def image_truth():
    """{image id: {"shape", "style"}} from the sheet's true_shape/true_style columns (the toy world), else {}."""
    if not {"true_shape", "true_style"} <= set(SHEET.columns):
        return {}
    return {i: {"shape": SHEET.loc[i, "true_shape"], "style": SHEET.loc[i, "true_style"]} for i in ALL_IMAGES}


SUBSETS = table_subsets()
