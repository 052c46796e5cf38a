"""The table of what each config key changes (workflow/scripts/_config.py KEYS) covers every key and is true:
changing a key changes exactly the settings the workflow hands to the stages the table names (the rules' `settings`
params come from these same functions), and no setting at all for a key that changes nothing. The DAG-level
counterpart (a change plans exactly the expected jobs) is in tests/test_workflow.py."""

from __future__ import annotations

import dataclasses
import re
import sys

import pandas as pd
import pytest

from plumbing.mappings import dotted
from unziplora.config import DEFAULT_TOKEN, SampleConfig, TrainConfig

from .workflow_project import REPO

sys.path.insert(0, str(REPO / "workflow" / "scripts"))
from _checks import ProvenanceError, check_scores  # noqa: E402
from _config import KEYS, SAMPLE_FIELDS, load_schema, output_settings, resolve_config  # noqa: E402
from _provenance import run_settings, settings_hash  # noqa: E402
from _runtime import RUNTIME_FIELDS, Runtime  # noqa: E402
from _settings import expected_settings, prepare_resolution, table_settings  # noqa: E402

#: A valid value other than the tiny preset's for every key (dotted for nested ones).
OTHER = {
    "preset": "smoke",
    "description": "another",
    "images_dir": "elsewhere",
    "images": ["square_stripes"],
    "methods": ["unziplora"],
    "model": "some/pipeline",
    "model_revision": "0123abc",
    "device": "cuda",
    "token": "sks",
    "train_seeds": [0, 1],
    "train.steps": 7,
    "train.resolution": 128,
    "train.lora.rank": 8,
    "train.lora.init": "peft_gaussian",
    "train.lora.lr": 1e-4,
    "train.optimizer.name": "adamw8bit",
    "train.optimizer.weight_decay": 0.01,
    "train.optimizer.betas": [0.8, 0.99],
    "train.optimizer.eps": 1e-6,
    "train.optimizer.max_grad_norm": 0.5,
    "train.columns.merger_lr": 1e-3,
    "train.columns.ratio": 0.2,
    "train.columns.rounds": 2,
    "train.columns.cone_threshold": 1e-4,
    "train.columns.cone_grad_scale": 1.0,
    "train.columns.tie_break": True,
    "train.columns.content_first": False,
    "train.columns.orthogonality_weight": 0.1,
    "train.blocks.content": ["down_blocks.1.attentions.0"],
    "train.blocks.style": ["down_blocks.1.attentions.1"],
    "train.mixed_precision": "bf16",
    "train.gradient_checkpointing": "on",
    "train.device": "cuda",
    "train.progress": True,
    "method_train": {"unziplora": {"steps": 9}},
    "sample.steps": 3,
    "sample.guidance_scale": 7.0,
    "sample.resolution": 64,
    "sample.samples_per_prompt": 2,
    "sample.seed": 1,
    "sample.dtype": "fp32",
    "sample.batch_size": 2,
    "modes": ["official"],
    "prompts": "data/prompts/toy.yaml",
    "recombination": {"contents": ["circle_dots"], "styles": ["square_stripes"]},
    "metrics": ["clip_i"],
    "metric_weights": "hub",
    "metric_options.weights": {"ViT-B-32-quickgelu.openai": "/weights/clip.safetensors"},
    "metric_options.revisions": {"ViT-B-32-quickgelu.openai": "0123abc"},
    "metric_options.models": {"clip_i": "ViT-L-14-quickgelu.openai"},
    "metric_options.device": "cuda",
    "metric_options.batch_size": 3,
    "metric_options.cache_dir": "/tmp/hub",
    "metric_options.converted_dir": "/tmp/converted",
    "metric_options.offline": True,
    "metric_options.progress": True,
    "tables.bootstrap": 100,
    "tables.seed": 1,
    "tables.subsets_by": "tier",
    "tables.units_by": "content",
    "threads": {"train": 2},
    "resources": {"train": {"mem_mb": 2500}},
}


def every_key() -> set[str]:
    """Every config key: the top-level keys of the schema, and for the sections made of fields (train and its
    nested sections, sample, metric_options, tables) every field, dotted (`train.lora.rank`)."""

    def leaves(prefix: str, schema: dict) -> set[str]:
        if "properties" not in schema:
            return {prefix}
        return set().union(*(leaves(f"{prefix}.{k}", s) for k, s in schema["properties"].items()))

    props = load_schema(REPO)["properties"]
    sections = ("train", "sample", "metric_options", "tables")
    return (set(props) - set(sections)).union(*(leaves(s, props[s]) for s in sections))


def nested(key: str, value) -> dict:
    head, _, rest = key.partition(".")
    return {head: nested(rest, value) if rest else value}


def resolved(raw: dict) -> dict:
    preset = raw.get("preset", "tiny")
    return resolve_config({k: v for k, v in raw.items() if k != "preset"}, REPO, preset)


def stages(config: dict) -> dict[str, dict]:
    """stage → {item: what its jobs are handed}, built like workflow/rules/common.smk builds the rules' params."""
    sheet = pd.read_csv(REPO / config["sheet"], sep="\t", dtype=str, keep_default_na=False).set_index("id")
    images = config["images"] or list(sheet.index)
    methods = config["methods"]
    rows = {i: sheet.loc[i, ["content", "style", "train_file", "sha256"]].to_dict() for i in images}
    expected = expected_settings(config, rows, methods)
    rec = config["recombination"]
    runs = {f"{m}/{i}": run_settings(expected, m, i, 0) for m in methods for i in images}
    return {
        "selection": {"": (images, methods, config["train_seeds"], rec)},
        "data": {i: (sheet.loc[i, "sha256"], sheet.loc[i, "train_file"], prepare_resolution(config)) for i in images},
        "train": runs,
        "sample": {"": expected["sample"], **{f"names/{i}": (r["content"], r["style"]) for i, r in rows.items()}},
        "score": {"": expected["metric"]},
        # the subsets stand for their sheet column here (the planning reads its values from the sheet)
        "tables": {
            "": table_settings(config, {"by": config["tables"]["subsets_by"]}, {}, {"by": config["tables"]["units_by"]})
        },  # fmt: skip
        "figures": {"": (rec["contents"], rec["styles"])},
    }


def changed(before: dict, after: dict) -> set[str]:
    """The stages whose common items differ; "selection" also when a stage's items are others (new jobs)."""
    out = set()
    for stage, items in before.items():
        if set(items) != set(after[stage]):
            out.add("selection")
        if any(items[k] != after[stage][k] for k in set(items) & set(after[stage])):
            out.add(stage)
    return out


def test_every_config_key_is_in_the_table():
    assert set(KEYS) == every_key(), set(KEYS) ^ every_key()
    # every key but the refused ones has a value to change it to; the sheet is edited in its own test
    assert set(OTHER) == every_key() - {k for k, v in KEYS.items() if v == ("refused",)} - {"sheet"}


def test_the_fields_jobs_may_read_are_the_ones_that_change_nothing():
    nothing = {k for k, v in KEYS.items() if v == ("nothing",)}
    fields = {f"{section}.{f}" for section, names in RUNTIME_FIELDS.items() for f in names}
    assert fields <= nothing and nothing - fields == {"device", "images_dir", "threads", "resources"}
    runtime = Runtime.of(resolved({"train": {"gradient_checkpointing": "on"}}))
    assert runtime.train_options("unziplora")["gradient_checkpointing"] == "on"


@pytest.mark.parametrize("key", sorted(OTHER))
def test_changing_a_key_changes_exactly_the_stages_the_table_names(tmp_path, key):
    base = resolved({})
    if key == "preset":
        other = resolved({"preset": OTHER[key]})
        assert {"selection", "sample", "score", "tables"} <= changed(stages(base), stages(other))  # other runs too
        return
    other = resolved(nested(key, OTHER[key]))
    found = changed(stages(base), stages(other))
    table = set(KEYS[key])
    if table == {"nothing"}:
        assert not found and output_settings(other) == output_settings(base), found
        return
    assert output_settings(other) != output_settings(base)  # the report's config shows every output setting
    assert found == table - {"report"}, (found, table)


def test_a_sheet_edit_changes_the_data_and_the_prompts(tmp_path):
    base = resolved({})
    sheet = pd.read_csv(REPO / base["sheet"], sep="\t", dtype=str, keep_default_na=False)
    sheet.loc[sheet["id"] == "square_stripes", "content"] = "box"
    sheet.loc[sheet["id"] == "square_stripes", "sha256"] = "0" * 64
    edited = tmp_path / "images.tsv"
    sheet.to_csv(edited, sep="\t", index=False)
    other = resolved({"sheet": str(edited)})
    found = changed(stages(base), stages(other))
    # a checksum (data, and the runs' record of their image), a name (prompts: train; templates: sample); the
    # sheet's truth and subset columns (tables) are the toy world's, absent from this sheet
    assert found == {"data", "train", "sample"} and found < set(KEYS["sheet"])


def provenance_of(expected: dict, method: str, images: list[str], seed: int, **changes) -> dict:
    """A score file's record (workflow/scripts/score.py) for one decomposition or recombination, with `changes`
    (metric, sample, settings, effective) replacing what a score job records."""
    runs = [run_settings(expected, method, i, seed) for i in images]
    sample = changes.get("sample", expected["sample"])
    settings = {settings_hash(r): r for r in runs} | {settings_hash(sample): sample}
    task = "decomposition" if len(images) == 1 else "recombination"
    item = {"task": task, "content_image": images[0], "style_image": images[-1], "train_seed": seed,
            "runs": [settings_hash(r) for r in runs], "sample": settings_hash(sample), "code": {"train": ["c1"]},
            "effective": changes.get("effective", {"train": ["fp32 on cpu"], "sample": "float32 on cpu"})}  # fmt: skip
    record = {"method": method, "metric": expected["metric"], "code": "c2", "settings": settings, "items": [item]}
    return {**record, **{k: v for k, v in changes.items() if k in ("metric", "settings")}}


SHEET = {
    "square_stripes": {"content": "square", "style": "stripes", "train_file": "square_stripes.png", "sha256": "a"},
    "circle_dots": {"content": "circle", "style": "dots", "train_file": "circle_dots_b.png", "sha256": "b"},
}


def test_check_scores_passes_matching_records_and_names_the_first_difference():
    expected = expected_settings(resolved({}), SHEET, ["unziplora"])
    one, pair = ["square_stripes"], ["square_stripes", "circle_dots"]
    made = check_scores([provenance_of(expected, "unziplora", one, 0)], expected, "results/tiny")
    assert made["train"]["unziplora"] == expected["train"]["unziplora"] and made["code"]["train"] == ["c1"]
    assert made["images"]["square_stripes"]["sha256"] == "a" and made["effective"]["train"] == ["fp32 on cpu"]
    stale = expected_settings(resolved({"train": {"steps": 7}}), SHEET, ["unziplora"])
    with pytest.raises(ProvenanceError, match=r"train\.steps: 7 → 6\); retrain it \(remove results/tiny/unziplora"):
        check_scores([provenance_of(stale, "unziplora", one, 0)], expected, "results/tiny")
    # a recombination whose style run is stale names the style image's run folder, not the content one's
    style_stale = expected_settings(resolved({}), {**SHEET, "circle_dots": {**SHEET["circle_dots"], "sha256": "c"}},
                                    ["unziplora"])  # fmt: skip
    with pytest.raises(
        ProvenanceError, match=r"image\.sha256: \"c\" → \"b\"\); retrain it \(remove r/unziplora/circle"
    ):
        check_scores([provenance_of(style_stale, "unziplora", pair, 0)], expected, "r")
    other_sample = {**expected["sample"], "modes": ["official"]}
    with pytest.raises(ProvenanceError, match=r"sampled with other settings .*remove r/unziplora/recombination/sq"):
        check_scores([provenance_of(expected, "unziplora", pair, 0, sample=other_sample)], expected, "r")
    with pytest.raises(ProvenanceError, match="other metric settings"):
        other_metric = {**expected["metric"], "metrics": ["clip_i"]}
        check_scores([provenance_of(expected, "unziplora", one, 0, metric=other_metric)], expected, "r")
    with pytest.raises(ProvenanceError, match="its record has no settings"):
        check_scores([provenance_of(expected, "unziplora", one, 0, settings={})], expected, "r")
    with pytest.raises(ProvenanceError, match="no score records"):
        check_scores([], expected, "r")


def test_check_scores_refuses_a_mix_of_effective_precisions():
    """`device` changes no setting, but under the `auto` precisions runs made on a GPU (bf16) and on the CPU (fp32)
    would share a table: refused, naming the precisions and the fix."""
    expected = expected_settings(resolved({}), SHEET, ["unziplora"])
    gpu = {"train": ["bf16 autocast, fp32 LoRA on cuda"], "sample": "float16 on cuda"}
    records = [provenance_of(expected, "unziplora", ["square_stripes"], 0),
               provenance_of(expected, "unziplora", ["circle_dots"], 0, effective=gpu)]  # fmt: skip
    with pytest.raises(
        ProvenanceError, match=r"mix train precisions \(bf16 .* on cuda; fp32 on cpu\).*mixed_precision"
    ):
        check_scores(records, expected, "r")


def test_the_documented_table_is_the_table():
    text = (REPO / "docs/reruns-and-provenance.md").read_text().split("## Every config key")[1]
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+?) \|", text, flags=re.M)
    assert {key: tuple(stages.split(", ")) for key, stages in rows} == KEYS


def test_the_schema_defaults_are_the_classes_defaults():
    """The schema's own defaults (sample, token) are the config classes' (one home each); train and metric_options
    have no defaults in the schema: their properties are generated from TrainConfig and MetricConfig."""
    schema = load_schema(REPO)
    sample = {SAMPLE_FIELDS[k]: v["default"] for k, v in schema["properties"]["sample"]["properties"].items()}
    assert sample == {k: getattr(SampleConfig(), k) for k in sample}
    assert schema["properties"]["token"]["default"] == DEFAULT_TOKEN
    assert set(schema["properties"]["train"]["properties"]) == {f.name for f in dataclasses.fields(TrainConfig)}
    train_keys = {k for k in every_key() if k.startswith("train.")}
    assert train_keys == {f"train.{k}" for k in dotted(TrainConfig().to_dict())}  # nested sections too
    assert not any("default" in p for p in schema["properties"]["train"]["properties"].values())
