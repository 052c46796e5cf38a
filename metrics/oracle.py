"""The toy world's oracle classifiers: a small CNN that names what an image shows (its shape, or its style), with
class probabilities and penultimate features (so embedding-similarity metrics can run on the toy world too).

No library ships it; `toyworld` trains it (renders and VAE reconstructions of renders) and writes it with
`save_oracle`: one safetensors file whose metadata holds the factor and the class names, in class-index order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from metrics.errors import MetricsError
from plumbing.files import atomic_file

#: Inputs are RGB in [0, 1], normalised inside the net (so callers never need the training statistics).
MEAN, STD = 0.5, 0.25


class OracleNet(nn.Module):
    """Four conv blocks (64 → 4 px), global average pooling to `4 * width` features, one linear layer to logits."""

    def __init__(self, classes: tuple[str, ...], factor: str, width: int = 16):
        super().__init__()
        self.classes, self.factor, self.width = tuple(classes), factor, width
        chans = [3, width, 2 * width, 4 * width, 4 * width]
        layers: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:], strict=True):
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            layers += [nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(chans[-1], len(self.classes))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate features (N, 4 * width) of RGB images (N, 3, H, W) in [0, 1]."""
        return self.body((images - MEAN) / STD).mean(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


@dataclass(frozen=True)
class Prediction:
    """What an oracle says of one image: the most likely class, its probability, all probabilities, features."""

    label: str
    probability: float
    probabilities: dict[str, float]
    features: np.ndarray


def to_tensor(images) -> torch.Tensor:
    """PIL images, HWC uint8 arrays or one NHWC uint8 array → a float batch (N, 3, H, W) in [0, 1]."""
    if not isinstance(images, np.ndarray):
        images = np.stack([np.asarray(im.convert("RGB") if hasattr(im, "convert") else im) for im in images])
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0


@torch.no_grad()
def predict(net: OracleNet, images) -> list[Prediction]:
    """The oracle's reading of each image (eval mode, no gradients)."""
    net.eval()
    batch = to_tensor(images)
    features = net.features(batch)
    probs = torch.softmax(net.head(features), dim=1)
    out = []
    for p, f in zip(probs, features, strict=True):
        best = int(p.argmax())
        table = {name: float(v) for name, v in zip(net.classes, p, strict=True)}
        out.append(Prediction(net.classes[best], float(p[best]), table, f.numpy().copy()))
    return out


def save_oracle(net: OracleNet, path: str | Path, extra: dict[str, str] | None = None) -> None:
    """Write the weights (fp32 safetensors, atomically) with the factor, class names and width as metadata."""
    meta = {"factor": net.factor, "classes": json.dumps(list(net.classes)), "width": str(net.width), **(extra or {})}
    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    with atomic_file(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_oracle(path: str | Path) -> OracleNet:
    """An oracle written by `save_oracle`, in eval mode; a clear error for any other file."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
    if not {"factor", "classes", "width"} <= set(meta):
        raise MetricsError(f"{path} is not an oracle file (no factor/classes/width metadata); rebuild it with toyworld")
    net = OracleNet(tuple(json.loads(meta["classes"])), meta["factor"], int(meta["width"]))
    net.load_state_dict(load_file(str(path)))
    return net.eval()
