"""CLIP-I, DINO, CSD and CLIP-T scores of generated images (the paper's automatic columns, spec §4).

Public API: `score_images` / `Scorer` (files in, rows out), `write_rows`, `MetricConfig`, and the registry
(`METRICS`, `MODELS`). Independent of the training code: this package never imports `unziplora`.
"""

from metrics.config import MetricConfig
from metrics.errors import MetricsError
from metrics.registry import METRICS, MODELS, PAPER_METRICS, get_metric, get_model

__all__ = [
    "METRICS",
    "MODELS",
    "PAPER_METRICS",
    "GeneratedImage",
    "MetricConfig",
    "MetricsError",
    "Scorer",
    "get_metric",
    "get_model",
    "score_images",
    "write_rows",
]


def __getattr__(name: str):
    # The scoring half imports torch; load it only when asked for, so `python -m metrics list` stays instant.
    if name == "write_rows":
        from metrics.rows import write_rows

        return write_rows
    if name in ("GeneratedImage", "Scorer", "score_images"):
        from metrics import score

        return getattr(score, name)
    raise AttributeError(f"module 'metrics' has no attribute {name!r}")
