"""Provenance: a hash of settings, their differences, and the check that every score was made with the settings the
config resolves (`check_scores`), so that a table never states settings its inputs were not made with. Used at
planning (common.smk), by the score job (which records what it scored) and by the tables job (which checks it).
"""

from __future__ import annotations

import hashlib
import json


class ProvenanceError(ValueError):
    """Outputs made with other settings than the config resolves; one line naming the setting and the fix."""


def settings_hash(value) -> str:
    """A short hash of JSON-able settings (key order does not matter)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]


def plain(value):
    """`value` as JSON gives it back, keys sorted (tuples become lists), so that settings compare equal to their
    records, and a rule's params do not change with the order keys were given in (Snakemake compares them in order)."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def differences(old, new, where: str = "") -> list[str]:
    """The settings that differ between `old` and `new`, as "key: old → new" (nested keys dotted)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            out += differences(old.get(key), new.get(key), f"{where}.{key}" if where else str(key))
        return out
    return [] if old == new else [f"{where}: {json.dumps(old)} → {json.dumps(new)}"]


def run_settings(train: dict, prompts: dict, seed: int | str) -> dict:
    """The settings of one run (method, image, training seed): what the train job is handed and records."""
    return plain({**train, "prompts": prompts, "seed": int(seed)})


def expected_runs(expected: dict, method: str, images: list[str], seed: int) -> list[dict]:
    """The run settings the config resolves for `method` on `images` (one, or a recombination's two)."""
    return [run_settings(expected["train"][method], expected["prompts"][i], seed) for i in images]


def check_scores(provenance: list[dict], expected: dict, preset_dir: str) -> dict:
    """Compare the score files' provenance with what the config resolves (`expected`: "train" per method,
    "prompts" per image, "sample", "metric"); raise ProvenanceError naming the first difference and the fix.
    Returns the provenance of the tables: every setting and code hash the inputs were made with."""
    found = {"train": {}, "prompts": {}, "sample": [], "metric": [], "code": {}}
    for record in provenance:
        method = record["method"]
        what = f"the scores of {method}"
        for diff in differences(record["metric"], expected["metric"])[:1]:
            raise ProvenanceError(f"{what} were made with other metric settings ({diff}); rescore them "
                                  f"(remove {preset_dir}/scores/{method}.csv) or undo the change")  # fmt: skip
        settings = record["settings"]
        for item in record["items"]:
            images = [item["content_image"]] if item["task"] == "decomposition" else [item["content_image"],
                                                                                      item["style_image"]]  # fmt: skip
            where = f"{what} on {'+'.join(images)} (train seed {item['train_seed']})"
            made = [settings[h] for h in item["runs"]]
            for run, want in zip(made, expected_runs(expected, method, images, item["train_seed"]), strict=True):
                for diff in differences(run, want)[:1]:
                    folder = f"{preset_dir}/{method}/{images[0]}/train{item['train_seed']}"
                    raise ProvenanceError(f"{where} come from a run made with other settings ({diff}); retrain it "
                                          f"(remove {folder}) or undo the change")  # fmt: skip
            for diff in differences(settings[item["sample"]], expected["sample"])[:1]:
                raise ProvenanceError(f"{where} were sampled with other settings ({diff}); resample them "
                                      f"(remove {preset_dir}/{method}/.../samples) or undo the change")  # fmt: skip
            for run in made:
                found["train"].setdefault(method, {k: v for k, v in run.items() if k not in ("prompts", "seed")})
            for image, run in zip(images, made, strict=True):
                found["prompts"][image] = run["prompts"]
            if settings[item["sample"]] not in found["sample"]:
                found["sample"].append(settings[item["sample"]])
            for stage, code in item.get("code", {}).items():
                found["code"].setdefault(stage, set()).update(code if isinstance(code, list) else [code])
        if record["metric"] not in found["metric"]:
            found["metric"].append(record["metric"])
        found["code"].setdefault("score", set()).add(record.get("code", "unrecorded"))
    found["sample"], found["metric"] = found["sample"][0], found["metric"][0]  # equal to the expected ones: checked
    found["code"] = {stage: sorted(codes) for stage, codes in found["code"].items()}
    return found
