"""The scoring API: generated image files and reference images in, one row per (image, metric) out.

A pure function of files: `score_images(images, reference, metrics, config)`. Each metric compares a generated
image with the reference of its aspect: style metrics (CLIP-I, CSD-style) with the style reference, content metrics
(DINO, CSD-content) with the content reference, CLIP-T with the image's own prompt. One reference path serves both
aspects (decomposition, combined outputs); a mapping {"content": A, "style": B} scores a cross-image recombination.
Models load once per `Scorer`; images are embedded in batches, once per model, with a progress bar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

import pandas as pd
import torch
from PIL import Image
from tqdm.auto import tqdm

from metrics.config import MetricConfig
from metrics.errors import MetricsError
from metrics.images import read_rgb
from metrics.models import Embedder, load_embedder
from metrics.registry import MODELS, PAPER_METRICS, ModelSpec, get_metric, get_model
from metrics.rows import write_rows  # noqa: F401 - part of this module's API since it was written

COLUMNS = (
    "image_id", "method", "kind", "mode", "prompt", "seed", "file", "metric", "value", "reference",
    "model", "weights_repo", "weights_revision", "caveat",
)  # fmt: skip


@dataclass(frozen=True)
class GeneratedImage:
    """A generated image file and what it shows. Fields left empty are read from the PNG's text chunks of the
    same names (written by `unziplora generate`)."""

    path: Path
    image_id: str = ""
    method: str = ""
    kind: str = ""  # content | style | combined | ...
    mode: str = ""  # combination mode, for combined images
    prompt: str = ""
    seed: int | None = None

    @classmethod
    def from_file(cls, path: str | Path, **given) -> GeneratedImage:
        """Describe `path`, taking unset fields from its PNG text metadata (a missing file is caught later)."""
        item = cls(Path(path), **given)
        info: dict = {}
        if item.path.is_file():
            try:
                with Image.open(item.path) as im:
                    info = dict(getattr(im, "text", {}) or {})
            except (OSError, SyntaxError, ValueError):
                info = {}  # unreadable: `read_rgb` reports it with the file name
        changes = {f.name: info[f.name] for f in fields(cls) if f.name in info and not getattr(item, f.name)}
        changes.pop("path", None)
        if "seed" in changes:
            seed = changes["seed"].strip()
            changes["seed"] = int(seed) if seed.lstrip("-").isdigit() else None
        return replace(item, **changes)


class Scorer:
    """Holds loaded models and reference embeddings for one process; `score` is the batched workhorse."""

    def __init__(self, config: MetricConfig | None = None, models: Mapping[str, ModelSpec] | None = None) -> None:
        self.config = config or MetricConfig()
        self.models = dict(MODELS if models is None else models)
        self._embedders: dict[str, Embedder] = {}
        self._reference_cache: dict[tuple[str, str], dict[str, torch.Tensor]] = {}

    def embedder(self, name: str) -> Embedder:
        """The model `name`, loaded on first use."""
        if name not in self._embedders:
            self._embedders[name] = load_embedder(get_model(name, self.models), self.config)
        return self._embedders[name]

    def embed_files(self, name: str, paths: Sequence[Path], desc: str = "") -> dict[str, torch.Tensor]:
        """Head → N×D unit vectors of the images at `paths`, in batches of `config.batch_size`."""
        embedder = self.embedder(name)
        batch = self.config.batch_size
        chunks: dict[str, list[torch.Tensor]] = {}
        starts = range(0, len(paths), batch)
        for start in tqdm(starts, desc=desc or name, unit="batch", disable=not self.config.progress or len(starts) < 2):
            pixels = torch.stack([embedder.preprocess(read_rgb(p)) for p in paths[start : start + batch]])
            for head, vectors in embedder.embed_images(pixels).items():
                chunks.setdefault(head, []).append(vectors)
        return {head: torch.cat(parts) for head, parts in chunks.items()}

    def reference(self, name: str, path: Path) -> dict[str, torch.Tensor]:
        """Head → 1×D unit vector of a reference image (cached per model and file)."""
        key = (name, str(Path(path).resolve()))
        if key not in self._reference_cache:
            self._reference_cache[key] = self.embed_files(name, [Path(path)], desc=f"{name} reference")
        return self._reference_cache[key]

    def score(
        self,
        images: Sequence[GeneratedImage | str | Path],
        reference: str | Path | Mapping[str, str | Path],
        metrics: Sequence[str] = PAPER_METRICS,
    ) -> pd.DataFrame:
        """One row per (image, metric): the cosine similarity and everything needed to read it (see COLUMNS)."""
        items = [i if isinstance(i, GeneratedImage) else GeneratedImage.from_file(i) for i in images]
        if not items:
            raise MetricsError("no images to score; pass at least one generated image file")
        if not metrics:
            raise MetricsError("no metrics asked for; pick from `python -m metrics list`")
        specs = [get_metric(m) for m in dict.fromkeys(metrics)]
        refs = _references(reference, {s.aspect for s in specs} - {"text"})
        if any(s.aspect == "text" for s in specs):
            unnamed = [str(i.path) for i in items if not i.prompt.strip()]
            if unnamed:
                raise MetricsError(f"clip_t needs each image's prompt; {unnamed[0]} has none (set its prompt)")
        for path in refs.values():
            read_rgb(path)  # fail on a bad reference before any model loads
        paths = [i.path for i in items]
        for path in paths:
            read_rgb(path)

        rows = []
        by_model: dict[str, dict[str, torch.Tensor]] = {}
        for spec in specs:
            model = self.config.model_for(spec.key)
            if model not in by_model:
                by_model[model] = self.embed_files(model, paths)
            generated = by_model[model]
            if spec.aspect == "text":
                prompts = [i.prompt for i in items]
                unique = list(dict.fromkeys(prompts))
                text = self.embedder(model).embed_texts(unique)
                other = text[[unique.index(p) for p in prompts]]
                values = (generated["image"] * other).sum(-1)
                ref_names = ["(prompt)"] * len(items)
            else:
                ref = self.reference(model, refs[spec.aspect])[spec.head]
                if spec.compare == "same_class":  # argmax of unit-normalised probabilities = the most likely class
                    values = (generated[spec.head].argmax(-1) == ref[0].argmax()).float()
                else:
                    values = generated[spec.head] @ ref[0]
                ref_names = [str(refs[spec.aspect])] * len(items)
            if not torch.isfinite(values).all():
                raise MetricsError(f"{spec.key} gave a non-finite score; check the images and the weights")
            weights = self.embedder(model).weights
            for item, value, ref_name in zip(items, values.tolist(), ref_names, strict=True):
                rows.append(
                    {
                        "image_id": item.image_id, "method": item.method, "kind": item.kind, "mode": item.mode,
                        "prompt": item.prompt, "seed": item.seed, "file": str(item.path), "metric": spec.key,
                        "value": float(value), "reference": ref_name, "model": model,
                        "weights_repo": weights.repo, "weights_revision": weights.revision, "caveat": spec.caveat,
                    }
                )  # fmt: skip
        frame = pd.DataFrame(rows, columns=list(COLUMNS))
        frame["seed"] = frame["seed"].astype("Int64")
        return frame


def _references(reference, aspects: set[str]) -> dict[str, Path]:
    if isinstance(reference, Mapping):
        unknown = set(reference) - {"content", "style"}
        if unknown:
            raise MetricsError(f"reference keys must be 'content' and/or 'style', got {sorted(unknown)}")
        missing = sorted(aspects - set(reference))
        if missing:
            raise MetricsError(f"no {missing[0]} reference given for the {missing[0]} metrics; add it to the mapping")
        return {a: Path(reference[a]) for a in aspects}
    return {a: Path(reference) for a in aspects}


def score_images(
    images: Sequence[GeneratedImage | str | Path],
    reference: str | Path | Mapping[str, str | Path],
    metrics: Sequence[str] = PAPER_METRICS,
    config: MetricConfig | None = None,
    scorer: Scorer | None = None,
) -> pd.DataFrame:
    """Score `images` against `reference` (a path, or {"content": A, "style": B}) with `metrics`.
    Pass a `scorer` to reuse its loaded models across calls."""
    return (scorer or Scorer(config)).score(images, reference, metrics)
