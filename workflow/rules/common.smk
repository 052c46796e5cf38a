# Planning: the preset, the validated config, the image sheet, the selection, and the paths every rule shares.
# Light imports only (no torch, diffusers or open_clip): method and metric keys come from the light registries.

import json
import os
import posixpath
import re
import sys
from pathlib import Path

import pandas as pd
import yaml
from snakemake.utils import validate

ROOT = Path(workflow.basedir)
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))  # the planning helpers the jobs share (_config, _settings)

from _closure import code_hash
from _config import ConfigError, load_preset, output_settings, resolve_config, schema_problem
from _runtime import RUNTIME_FIELDS, Runtime, local_file
from _provenance import differences, run_settings
from _settings import expected_settings, prepare_resolution, table_settings

from metrics.registry import METRICS, MODELS
from _devices import visible_gpus
from unziplora.methods import METHODS, method_settings, standard_methods, trained_methods
#: Where the packages the jobs import live (the checkout for an editable install; PYTHONPATH can point elsewhere).
PACKAGES = Path(sys.modules["unziplora.methods"].__file__).resolve().parents[1]
PRESET_ENV = "UNZIPLORA_PRESET"  # the preset the user's process resolved; every job inherits it
REPORT_ENV = "UNZIPLORA_REPORT"  # set by html_report for its nested `snakemake --report`


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


def checked_config(raw):
    """Preset under the user's keys, validated against the schema (defaults filled), with one-line errors."""
    try:
        return resolve_config(raw, ROOT, resolve_preset(raw.get("preset", "auto")))
    except ConfigError as err:
        fail(str(err))


def read_sheet(path):
    """The image sheet, validated, indexed by id."""
    if not Path(path).is_file():
        fail(f"image sheet {path} does not exist; set `sheet` to a TSV like data/images.tsv")
    sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    sheet["draw_seed"] = pd.to_numeric(sheet.get("draw_seed", 0), errors="coerce").fillna(0).astype(int)
    schema = ROOT / "workflow" / "schemas" / "images.schema.yaml"
    rules = yaml.safe_load(schema.read_text())
    for number, row in enumerate(sheet.to_dict("records"), start=2):
        problem = schema_problem(row, rules)
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
    local = local_file(config["images_dir"], image, row["train_file"]) if config["images_dir"] else None
    return local, (urls[index] if urls else None), row["sha256"].split(";")[index]


def check_options():
    """Keys a job would ignore are refused, so a typo or a no-op stops planning with the key's name."""
    unknown = sorted(set(config["method_train"]) - set(METHODS))
    if unknown:
        fail(f"invalid config: method_train names unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    for where, options in [("train", config["train"]), *((f"method_train.{m}", o) for m, o in config["method_train"].items())]:
        for name, why in (("seed", "training seeds come from train_seeds"), ("method", "the method is the wildcard")):
            if name in options:
                fail(f"invalid config: {where}.{name} is not a setting ({why}); remove it")


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
if not os.environ.get(REPORT_ENV):  # the report's own planning reads no image (html_report)
    check_local_images()
Runtime.of(config).to_env()  # the settings that change no output, for every job (workflow/scripts/_runtime.py)
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
    # (each job then locks its own device: workflow/scripts/_devices.py). A cluster executor leaves it to the scheduler.
    workflow.register_resource("gpu", max(1, len(visible_gpus()[0])))

METRIC_MODELS = sorted({config["metric_options"].get("models", {}).get(m, METRICS[m].model) for m in config["metrics"]})

#: Each rule's code: a hash of its script's import closure over the project's packages (workflow/scripts/_closure.py).
CODE = {
    script.stem: code_hash(script, PACKAGES)
    for script in sorted((ROOT / "workflow" / "scripts").glob("*.py"))
    if not script.name.startswith("_")
}
# The resolved config for the report (workflow/report/workflow.rst); jobs get their own settings (params.settings).
SETTINGS = output_settings(config)


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


def sheet_entry(image):
    """{content, style, train_file, sha256} of an image: what its runs' settings are made of."""
    local, url, sha = train_source(image)
    return {**names_of(image), "train_file": SHEET.loc[image, "train_file"], "sha256": sha}


def source_params(image):
    """{file, sha256, url} of an image's training file (prepare_image's param; where images_dir keeps it is not: the job
    finds it there, and the checksum makes it the same file wherever it is read from)."""
    local, url, sha = train_source(image)
    return {"file": SHEET.loc[image, "train_file"], "sha256": sha, "url": url}


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


def table_units():
    """The bootstraps' unit: {"by": sheet column, "of": {image id: its value}} for `tables.units_by` over every image
    of the sheet (the toy benchmark's shape–style pairs), else each image its own unit ({"by": "image", "of": {}})."""
    column = config["tables"]["units_by"]
    if not column:
        return {"by": "image", "of": {}}
    if column not in SHEET.columns:
        fail(f"tables.units_by names {column!r}, which is not a column of {config['sheet']}; name one or set null")
    return {"by": column, "of": {i: str(SHEET.loc[i, column]) for i in ALL_IMAGES}}


SUBSETS = table_subsets()


# ---- settings: what each stage's jobs are handed (workflow/scripts/_settings.py) ---------------------------------
try:
    #: What the tables check their inputs against: every method's train settings, every image's prompts, the
    #: sample and metric settings (workflow/scripts/_settings.py); each stage's jobs get their part as params.
    EXPECTED = expected_settings(config, {i: sheet_entry(i) for i in ALL_IMAGES}, METHOD_KEYS)
except ValueError as err:
    fail(f"invalid config: {err}; fix it in --config/--configfile or config/presets/{PRESET}.yaml")
SAMPLE_SETTINGS, METRIC_SETTINGS = EXPECTED["sample"], EXPECTED["metric"]
TABLE_SETTINGS = table_settings(config, SUBSETS, image_truth(), table_units())


def settings_of_run(wildcards):
    """A run's settings (a train_run/base_record param): its method's, its image's prompts, its seed."""
    return run_settings(EXPECTED, wildcards.method, wildcards.image, wildcards.train_seed)


def check_existing_runs():
    """Runs that exist but were trained with other settings or code than the config and checkout give now: their
    LoRAs are protected, so planning stops here, before any job, naming the change and the folders to remove."""
    stale = {}
    for method in TRAINED:
        for image in IMAGES:
            for seed in SEEDS:
                record_file = Path(run_dir(method, image, seed)) / "run.json"
                if not record_file.is_file():
                    continue
                record = json.loads(record_file.read_text())
                want = run_settings(EXPECTED, method, image, seed)
                if "settings" not in record:
                    change = ["settings: not recorded (a run made before runs recorded their settings)"]
                else:
                    change = differences(record["settings"], want)
                if not change and record.get("code") != CODE["train"]:
                    change = [f"the training code (import closure of workflow/scripts/train.py): {record.get('code')} → {CODE['train']}"]
                if change:
                    stale[str(record_file.parent)] = change[0]
    listing = Path(R.format(preset=PRESET)) / "stale_runs.txt"
    if not stale:
        listing.unlink(missing_ok=True)  # the list of an earlier stop, now dealt with
        return
    if stale:
        folders = sorted(stale)
        shown = " ".join(folders)
        if len(folders) > 3:  # too many for one line: their list goes to a file, the line says how to use it
            listing.parent.mkdir(parents=True, exist_ok=True)
            partial = listing.with_suffix(".partial")  # then renamed: the list is whole or absent
            partial.write_text("\n".join(folders) + "\n")
            partial.replace(listing)
            shown = f"the {len(folders)} folders listed in {listing} (xargs rm -r < {listing})"
        fail(f"{len(folders)} existing run(s) were trained with other settings ({stale[folders[0]]}); their LoRAs are "
             f"protected, so nothing was run: remove {shown} to retrain them, or undo the change")  # fmt: skip


check_existing_runs()
