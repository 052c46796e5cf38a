"""What a job may read from the workflow config: the settings that change no output (devices, batch sizes, progress
bars, where input files are read from). Every other setting reaches a job as its rule's `settings` param, so
Snakemake reruns exactly the jobs a change affects (`_config.KEYS`); `_common.start` hides the rest of the config.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

#: Fields of `train`/`method_train`, `sample` and `metric_options` that change no output (KEYS: "nothing").
RUNTIME_FIELDS = {
    "train": ("device", "progress", "gradient_checkpointing"),
    "sample": ("batch_size",),
    "metric_options": ("device", "batch_size", "cache_dir", "converted_dir", "offline", "progress"),
}


ENV = "UNZIPLORA_RUNTIME"  # the runtime of the planning, for its jobs


@dataclass(frozen=True)
class Runtime:
    """What a job may read from the workflow config: the settings that change no output (KEYS: "nothing")."""

    device: str
    images_dir: str | None
    train: dict
    method_train: dict
    sample_batch_size: int
    metric_options: dict

    @classmethod
    def of(cls, config: dict) -> Runtime:
        """The runtime view of a resolved workflow config."""
        pick = {
            section: {k: v for k, v in (config.get(section) or {}).items() if k in RUNTIME_FIELDS[section]}
            for section in RUNTIME_FIELDS
        }
        per_method = {
            m: {k: v for k, v in options.items() if k in RUNTIME_FIELDS["train"]}
            for m, options in (config.get("method_train") or {}).items()
        }
        return cls(
            device=config["device"],
            images_dir=config.get("images_dir"),
            train=pick["train"],
            method_train=per_method,
            sample_batch_size=int(pick["sample"]["batch_size"]),  # resolved: the schema fills it
            metric_options=pick["metric_options"],
        )

    def to_env(self) -> None:
        """Hand this runtime to every job the planning process starts, through the environment (as `preset: auto`
        is): a job reads it with `from_env`, never the workflow config, and it is no param, so it reruns nothing."""
        os.environ[ENV] = json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_env(cls) -> Runtime:
        """The runtime the planning handed to this job (`to_env`)."""
        if ENV not in os.environ:
            raise RuntimeError(f"{ENV} is not set: run workflow scripts through snakemake, whose planning sets it")
        return cls(**json.loads(os.environ[ENV]))

    def train_options(self, method: str, parent: str = "") -> dict:
        """The runtime TrainConfig fields of `method` (preset `train`, then the `method_train` of the method a variant
        is of, then its own, as `unziplora.methods.method_settings`), device included."""
        per_method = self.method_train
        return {"device": self.device, **self.train, **per_method.get(parent, {}), **per_method.get(method, {})}

    def train_config(self, settings: dict):
        """The TrainConfig of a run from the settings its job was handed (`_provenance.run_settings`): the resolved
        fields (none for the base model), the method and seed (wildcards), and this runtime's no-output fields."""
        from unziplora.config import TrainConfig
        from unziplora.methods import METHODS

        method = settings["method"]
        options = {**settings.get("train", {}), "method": method, "seed": settings["seed"]}
        return TrainConfig.from_dict({**options, **self.train_options(method, METHODS[method].variant_of)})


def local_file(images_dir: str | os.PathLike, image: str, name: str) -> Path:
    """Where `images_dir` holds an image's file: `<dir>/<id>/<file>`, else `<dir>/<file>` (the first if neither)."""
    base = Path(images_dir)
    candidates = [base / image / name, base / name]
    return next((c for c in candidates if c.is_file()), candidates[0])
