"""One factory, `load_embedder`, builds any registry model with its weights and preprocessing.

Every family goes through the same strict load: the weights file must hold exactly the architecture's keys and
shapes (random-weight files in the same formats exercise this path in the tests).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image
from safetensors.torch import load_file
from torch import nn
from torchvision import transforms

from metrics.config import MetricConfig
from metrics.csd import load_csd
from metrics.errors import MetricsError
from metrics.loading import check_keys, create_clip
from metrics.oracle import load_oracle
from metrics.registry import ModelSpec, Preprocess
from metrics.weights import ResolvedWeights, resolve
from plumbing import devices


def resolve_device(name: str) -> torch.device:
    """`plumbing.devices.resolve_device`, its one-line error as the metrics package's own."""
    try:
        return devices.resolve_device(name)
    except ValueError as err:
        raise MetricsError(str(err)) from None


def build_transform(pre: Preprocess) -> transforms.Compose:
    """The eval transform of a registry entry: resize shorter side, center crop, to tensor, normalise."""
    modes = {"bicubic": transforms.InterpolationMode.BICUBIC, "bilinear": transforms.InterpolationMode.BILINEAR}
    return transforms.Compose(
        [
            transforms.Resize(pre.resize, interpolation=modes[pre.interpolation]),
            transforms.CenterCrop(pre.crop),
            transforms.ToTensor(),
            transforms.Normalize(pre.mean, pre.std),
        ]
    )


class Embedder:
    """A loaded model: `preprocess` one PIL image, `embed_images` a batch into L2-normalised vectors per head,
    `embed_texts` for CLIP's text tower."""

    def __init__(self, spec: ModelSpec, module: nn.Module, weights: ResolvedWeights, device: torch.device) -> None:
        self.spec = spec
        self.module = module.to(device).eval()
        self.weights = weights
        self.device = device
        self.transform = build_transform(spec.preprocess)
        self._tokenizer = None

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """3×crop×crop float tensor."""
        return self.transform(image)

    @torch.inference_mode()
    def embed_images(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Head name → N×D unit vectors (fp32, on the CPU)."""
        pixels = pixels.to(self.device, torch.float32)
        if self.spec.family == "open_clip":
            out = {"image": self.module.encode_image(pixels)}
        elif self.spec.family == "timm":
            out = {"cls": self.module(pixels)}  # num_classes=0: the CLS token after the final norm
        elif self.spec.family == "oracle":
            features = self.module.features(pixels)
            out = {"features": features, "probs": torch.softmax(self.module.head(features), dim=-1)}
        else:
            out = self.module(pixels)  # CSD normalises its heads itself; normalising again is a no-op
        return {head: _unit(v, self.spec.name) for head, v in out.items()}

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """N×D unit vectors of CLIP's text tower."""
        if self.spec.family != "open_clip":
            raise MetricsError(f"model {self.spec.name} has no text tower; CLIP-T needs a CLIP model")
        if self._tokenizer is None:
            import open_clip

            self._tokenizer = open_clip.get_tokenizer(self.spec.arch)
        tokens = self._tokenizer(list(texts)).to(self.device)
        return _unit(self.module.encode_text(tokens), self.spec.name)


def _unit(x: torch.Tensor, name: str) -> torch.Tensor:
    x = x.float().cpu()
    norms = x.norm(dim=-1, keepdim=True)
    if not torch.isfinite(x).all() or (norms == 0).any():
        raise MetricsError(f"model {name} produced a non-finite or zero embedding; check its weights file")
    return x / norms


def load_embedder(spec: ModelSpec, config: MetricConfig) -> Embedder:
    """Resolve `spec`'s weights (see `metrics.weights`) and build the model around them."""
    weights = resolve(spec, config)
    device = resolve_device(config.device)
    if spec.family == "csd":
        module = load_csd(weights.path, spec.arch)
    elif spec.family == "open_clip":
        module = create_clip(spec.arch)
        _load_strict(module, weights)
    elif spec.family == "oracle":
        module = load_oracle(weights.path)
    elif spec.family == "timm":
        import timm

        module = timm.create_model(spec.arch, pretrained=False, num_classes=0)
        _load_strict(module, weights)
    else:
        raise MetricsError(f"model {spec.name}: unknown family {spec.family!r}")
    return Embedder(spec, module, weights, device)


def _load_strict(module: nn.Module, weights: ResolvedWeights) -> None:
    try:
        state = load_file(str(weights.path))
    except Exception as err:  # noqa: BLE001 - safetensors raises several types for a bad file
        raise MetricsError(f"cannot read weights {weights.path} ({err}); fetch them again") from None
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    check_keys({k: tuple(v.shape) for k, v in state.items()}, expected, str(weights.path))
    module.load_state_dict(state, strict=True)
