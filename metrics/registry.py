"""The metric registry, as data: embedding models (architecture, weights, preprocessing) and the metrics built
on them. Keys are the workflow's wildcard values and the columns of the tables.

Model names follow timm's `architecture.tag` style. Weights are a Hugging Face file pinned to a revision (a
commit); where no commit could be checked from this project's machines (no hub access), the revision is a branch
and every score row records the commit that was actually resolved (see `metrics.weights`).
No torch import here, so that listing metrics stays instant.
"""

from __future__ import annotations

from dataclasses import dataclass

# CLIP's own normalisation (open_clip.constants.OPENAI_DATASET_MEAN/STD; CSD/loss_utils.py uses the same values).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# ImageNet normalisation (timm.data.IMAGENET_DEFAULT_MEAN/STD), used by DINO.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

CSD_CONTENT_CAVEAT = (
    "CSD's content head is, per its authors, a leftover of a failed experiment (learn2phoenix/CSD#10); "
    "reported only for comparability with the paper: base content conclusions on DINO"
)


@dataclass(frozen=True)
class Preprocess:
    """Eval transform: shorter side resized to `resize` (interpolation), center crop `crop`, then normalise."""

    resize: int
    crop: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


#: `WeightsSource.repo` of weights committed with this project (`filename` is relative to the project root).
PROJECT = "project"


@dataclass(frozen=True)
class WeightsSource:
    """One weights file on the Hugging Face hub, or (repo `PROJECT`) a file committed with this project.

    revision: a commit id where pinned, else a branch name. sha256: checked by `python -m metrics fetch` when given.
    fmt: "safetensors" (loaded directly) or "csd_pickle" (the CSD authors' training checkpoint, converted once).
    """

    repo: str
    filename: str
    revision: str
    fmt: str = "safetensors"
    sha256: str | None = None
    size_bytes: int | None = None


@dataclass(frozen=True)
class ModelSpec:
    """An embedding model: `family` picks the builder in `metrics.models` (open_clip, timm, csd, oracle)."""

    name: str
    family: str
    arch: str
    weights: WeightsSource
    preprocess: Preprocess
    heads: tuple[str, ...]


@dataclass(frozen=True)
class MetricSpec:
    """A score: cosine similarity of one model head's embeddings of a generated image and a reference.

    aspect: which reference the score compares against: "style" or "content" (an image), or "text" (the
    generated image's own prompt, CLIP-T).
    compare: "cosine" (the paper's metrics), or "same_class": 1 when a classifier's most likely class for the
        generated image is its most likely class for the reference, else 0 (the toy world's oracle columns; their
        mean is the fraction of images showing the reference's shape or style).
    """

    key: str
    label: str
    model: str
    head: str
    aspect: str
    caveat: str = ""
    compare: str = "cosine"


_CLIP_PRE = Preprocess(resize=224, crop=224, interpolation="bicubic", mean=CLIP_MEAN, std=CLIP_STD)
# The toy world's oracles take its 64-px images in [0, 1] and normalise them themselves (metrics.oracle).
_ORACLE_PRE = Preprocess(resize=64, crop=64, interpolation="bilinear", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def _oracle(factor: str) -> ModelSpec:
    """The toy world's `factor` oracle (trained by `python -m toyworld oracles`, committed under data/toy/oracles)."""
    return ModelSpec(
        name=f"oracle_{factor}.toyworld",
        family="oracle",
        arch="oracle_net",
        weights=WeightsSource(repo=PROJECT, filename=f"data/toy/oracles/{factor}.safetensors", revision="committed"),
        preprocess=_ORACLE_PRE,
        heads=("features", "probs"),
    )


MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        ModelSpec(
            name="ViT-B-32-quickgelu.openai",
            family="open_clip",
            arch="ViT-B-32-quickgelu",
            # Commit and hash as pinned by other open_clip users (not checkable from here: no hub access).
            weights=WeightsSource(
                repo="timm/vit_base_patch32_clip_224.openai",
                filename="open_clip_model.safetensors",
                revision="a6f597a30f7b82c51704746581f9a4e41421e878",
                sha256="e6d1bd7789aa45192b3bf90570a789b478bae1b74ebcce7eddd908e83a2b7c31",
            ),
            preprocess=_CLIP_PRE,
            heads=("image", "text"),
        ),
        ModelSpec(
            name="ViT-L-14-quickgelu.openai",
            family="open_clip",
            arch="ViT-L-14-quickgelu",
            # Content hash as recorded by another project (its snapshot 18d05354…; the full commit id is unknown
            # here), so `fetch` verifies the bytes even though the revision is a branch.
            weights=WeightsSource(
                repo="timm/vit_large_patch14_clip_224.openai",
                filename="open_clip_model.safetensors",
                revision="main",
                sha256="9ce2e8a8ebfff3793d7d375ad6d3c35cb9aebf3de7ace0fc7308accab7cd207e",
                size_bytes=1_710_517_724,
            ),
            preprocess=_CLIP_PRE,
            heads=("image", "text"),
        ),
        ModelSpec(
            name="vit_small_patch16_224.dino",
            family="timm",
            arch="vit_small_patch16_224",
            weights=WeightsSource(
                repo="timm/vit_small_patch16_224.dino", filename="model.safetensors", revision="main"
            ),
            # DINO's own eval transform (256 → 224), not timm's crop_pct 0.9 default.
            preprocess=Preprocess(resize=256, crop=224, interpolation="bicubic", mean=IMAGENET_MEAN, std=IMAGENET_STD),
            heads=("cls",),
        ),
        ModelSpec(
            name="csd_vit_l.tomg",
            family="csd",
            arch="ViT-L-14-quickgelu",
            # The authors' training checkpoint (a pickle); commit and hash as pinned by another CSD user.
            weights=WeightsSource(
                repo="tomg-group-umd/CSD-ViT-L",
                filename="pytorch_model.bin",
                revision="5bc26a6fb0487f3f00a2a7313135103a005b1b67",
                fmt="csd_pickle",
                sha256="40e92fad63a361b8136100cd234c42d401ef9b34ff1748234318929ebcc7e7a1",
                size_bytes=2_438_228_893,
            ),
            preprocess=_CLIP_PRE,  # CSD/loss_utils.py transforms_branch0
            heads=("style", "content"),
        ),
        _oracle("shape"),
        _oracle("style"),
    )
}

METRICS: dict[str, MetricSpec] = {
    m.key: m
    for m in (
        MetricSpec("clip_i", "Style-align (CLIP-I)", "ViT-B-32-quickgelu.openai", "image", "style"),
        MetricSpec("clip_i_l14", "Style-align (CLIP-I, ViT-L/14)", "ViT-L-14-quickgelu.openai", "image", "style"),
        MetricSpec("dino", "Subject-align (DINO)", "vit_small_patch16_224.dino", "cls", "content"),
        MetricSpec("csd_style", "Style-align (CSD)", "csd_vit_l.tomg", "style", "style"),
        MetricSpec(
            "csd_content", "Subject-align (CSD)", "csd_vit_l.tomg", "content", "content", caveat=CSD_CONTENT_CAVEAT
        ),
        MetricSpec("clip_t", "Text-align (CLIP-T)", "ViT-B-32-quickgelu.openai", "text", "text"),
        # The toy world's embedding columns: penultimate features of the oracle that knows the aspect.
        MetricSpec(
            "oracle_content", "Subject-align (shape-oracle features)", "oracle_shape.toyworld", "features", "content"
        ),  # fmt: skip
        MetricSpec(
            "oracle_style", "Style-align (style-oracle features)", "oracle_style.toyworld", "features", "style"
        ),  # fmt: skip
        # The toy world's ground-truth columns: does the oracle see the reference's shape / style?
        MetricSpec(
            "shape_right", "Shape right (oracle)", "oracle_shape.toyworld", "probs", "content", compare="same_class"
        ),
        MetricSpec(
            "style_right", "Style right (oracle)", "oracle_style.toyworld", "probs", "style", compare="same_class"
        ),
    )
}

# The paper's four columns, in its order.
PAPER_METRICS = ("clip_i", "dino", "csd_style", "csd_content")


def get_metric(key: str) -> MetricSpec:
    """The registry entry for metric `key`, or a ValueError that lists the known keys."""
    try:
        return METRICS[key]
    except KeyError:
        raise ValueError(f"unknown metric {key!r}; choose from: {', '.join(METRICS)}") from None


def get_model(name: str, models: dict[str, ModelSpec] | None = None) -> ModelSpec:
    """The registry entry for model `name` (from `models`, default `MODELS`), or a ValueError listing the names."""
    table = MODELS if models is None else models
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown metric model {name!r}; choose from: {', '.join(table)}") from None
