"""The tables' check: every score was made with the settings the config resolves (`check_scores`), so that a table
never states settings its inputs were not made with. Only the tables job imports it (editing it reruns only tables).
"""

from __future__ import annotations

from _provenance import differences, run_settings

PER_RUN = ("prompts", "image", "seed")  # the parts of a run's settings that are its image's or its seed's


class ProvenanceError(ValueError):
    """Outputs made with other settings than the config resolves; one line naming the setting and the fix."""


def _folder(preset_dir: str, method: str, item: dict, index: int) -> str:
    """The run folder of the item's `index`-th run (a recombination's content run is 0, its style run 1)."""
    image = item["content_image"] if index == 0 else item["style_image"]
    return f"{preset_dir}/{method}/{image}/train{item['train_seed']}"


def _samples_folder(preset_dir: str, method: str, item: dict) -> str:
    """The folder of the item's sample manifest (a run's samples/ or a recombination's folder)."""
    if item["task"] == "decomposition":
        return f"{_folder(preset_dir, method, item, 0)}/samples"
    pair = f"{item['content_image']}+{item['style_image']}"
    return f"{preset_dir}/{method}/recombination/{pair}/train{item['train_seed']}"


def check_scores(provenance: list[dict], expected: dict, preset_dir: str) -> dict:
    """Compare the score files' records (`scores/<method>.json`) with what the config resolves (`expected`: "train"
    per method, "prompts" per image, "sample", "metric"); raise ProvenanceError naming the first difference and
    the folder to remove. Runs trained, or images sampled, at different effective precisions (`device` with the
    `auto` precisions) are refused too: they would share one table. Returns the provenance of the tables: every
    setting, effective precision and code hash the inputs were made with."""
    if not provenance:
        raise ProvenanceError("no score records to build tables from; run the score jobs first")
    found = {"train": {}, "prompts": {}, "images": {}, "sample": expected["sample"], "metric": expected["metric"]}
    found["code"] = {}
    effective = {"train": set(), "sample": set()}
    for record in provenance:
        method = record["method"]
        if method not in expected["train"]:
            raise ProvenanceError(f"scores of {method!r} are not of this selection; remove them or select the method")
        what = f"the scores of {method}"
        for diff in differences(record["metric"], expected["metric"])[:1]:
            raise ProvenanceError(f"{what} were made with other metric settings ({diff}); rescore them "
                                  f"(remove {preset_dir}/scores/{method}.csv) or undo the change")  # fmt: skip
        settings = record["settings"]
        for item in record["items"]:
            images = [item["content_image"]] if item["task"] == "decomposition" else [item["content_image"],
                                                                                      item["style_image"]]  # fmt: skip
            where = f"{what} on {'+'.join(images)} (train seed {item['train_seed']})"
            unknown = [i for i in images if i not in expected["prompts"]]
            if unknown or len(item["runs"]) != len(images):
                raise ProvenanceError(f"{where} are not of this selection or name the wrong runs; rescore them "
                                      f"(remove {preset_dir}/scores/{method}.csv)")  # fmt: skip
            for index, (key, image) in enumerate(zip(item["runs"], images, strict=True)):
                want = run_settings(expected, method, image, item["train_seed"])
                made = settings.get(key)
                diff = ["its record has no settings"] if not made else differences(made, want)[:1]
                if diff:
                    folder = _folder(preset_dir, method, item, index)
                    raise ProvenanceError(f"{where} come from a run made with other settings ({diff[0]}); retrain "
                                          f"it (remove {folder}) or undo the change")  # fmt: skip
                found["train"].setdefault(method, {k: v for k, v in made.items() if k not in PER_RUN})
                found["prompts"][image] = made["prompts"]
                found["images"][image] = made["image"]
            for diff in differences(settings.get(item["sample"]), expected["sample"])[:1]:
                raise ProvenanceError(f"{where} were sampled with other settings ({diff}); resample them (remove "
                                      f"{_samples_folder(preset_dir, method, item)}) or undo the change")  # fmt: skip
            for stage in ("train", "sample"):
                made_at = item.get("effective", {}).get(stage, "not recorded")
                effective[stage].update(made_at if isinstance(made_at, list) else [made_at])
            for stage, code in item.get("code", {}).items():
                found["code"].setdefault(stage, set()).update(code if isinstance(code, list) else [code])
        found["code"].setdefault("score", set()).add(record.get("code", "not recorded"))
    for stage, fix in (("train", "train.mixed_precision"), ("sample", "sample.dtype")):
        if len(effective[stage]) > 1:
            raise ProvenanceError(f"the scores mix {stage} precisions ({'; '.join(sorted(effective[stage]))}): "
                                  f"runs made on other devices under an `auto` precision; set {fix} explicitly "
                                  f"and remake the ones of the other device")  # fmt: skip
    found["effective"] = {stage: sorted(values) for stage, values in effective.items()}
    found["code"] = {stage: sorted(codes) for stage, codes in found["code"].items()}
    return found
