"""`MetricConfig`: where metric weights come from and how scoring runs. Passed explicitly, never global."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from metrics.registry import METRICS, MODELS
from plumbing.mappings import from_mapping


@dataclass
class MetricConfig:
    """Options of one scoring process.

    weights: model name → local weights file or folder (offline use); overrides the hub source.
    revisions: model name → hub revision (a commit id), overriding the registry's pin (e.g. to pin a branch).
    models: metric key → model name, e.g. {"clip_i": "ViT-L-14-quickgelu.openai"} for a sensitivity check.
    cache_dir: the Hugging Face hub cache (None: the hub's default, `HF_HUB_CACHE`/`HF_HOME`).
    converted_dir: where the CSD checkpoint converted to safetensors is kept (None: `~/.cache/unziplora/metrics`).
    offline: never contact the hub (also when the environment sets HF_HUB_OFFLINE=1).
    """

    device: str = "auto"
    batch_size: int = 16
    weights: dict[str, str] = field(default_factory=dict)
    revisions: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    cache_dir: str | None = None
    converted_dir: str | None = None
    offline: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        for name in [*self.weights, *self.revisions]:
            if name not in MODELS:
                raise ValueError(f"weights given for unknown metric model {name!r}; known: {', '.join(MODELS)}")
        for key, name in self.models.items():
            if key not in METRICS:
                raise ValueError(f"model override for unknown metric {key!r}; known: {', '.join(METRICS)}")
            if name not in MODELS:
                raise ValueError(f"metric {key!r} set to unknown model {name!r}; known: {', '.join(MODELS)}")

    @property
    def is_offline(self) -> bool:
        """True when the hub must not be contacted (config or HF_HUB_OFFLINE in the environment)."""
        return self.offline or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}

    @property
    def converted_path(self) -> Path:
        """Folder for converted checkpoints."""
        if self.converted_dir:
            return Path(self.converted_dir)
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "unziplora" / "metrics"

    def model_for(self, metric: str) -> str:
        """The model name metric `metric` uses under this config. CLIP-T follows a CLIP-I override unless set
        itself, so that image-image and image-text scores come from the same CLIP."""
        if metric == "clip_t" and "clip_t" not in self.models and "clip_i" in self.models:
            return self.models["clip_i"]
        return self.models.get(metric, METRICS[metric].model)

    def to_dict(self) -> dict:
        """Plain-JSON view, for records."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> MetricConfig:
        """Build from a mapping (YAML/JSON config), rejecting unknown keys with a clear message."""
        return from_mapping(cls, values, "metric_options")
