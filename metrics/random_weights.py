"""Random-weight files of the registry's true architectures, in the formats the loaders read.

For running the scoring path where no real weights can be downloaded: the `tiny` preset of the workflow and the
tests. Every tensor is drawn from a generator seeded by the caller, so the same seed writes the same bytes. Scores
made with these weights exercise the code, never the science: a table built from them says so in its provenance
(`weights_repo` is "local" and the revision is the random file's path).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from metrics.csd import csd_state_shapes
from metrics.loading import create_clip
from metrics.registry import ModelSpec, get_model
from plumbing.files import atomic_file


def _normal(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    # std 0.02: the usual transformer init scale, small enough that ViT activations stay finite at 24 layers.
    return torch.empty(shape).normal_(0.0, 0.02, generator=generator)


def random_state(spec: ModelSpec, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with `spec`'s exact keys and shapes (as its loader checks them), drawn from `seed`."""
    generator = torch.Generator().manual_seed(seed)
    if spec.family == "csd":
        shapes = csd_state_shapes()
    elif spec.family == "open_clip":
        with torch.device("meta"):
            model = create_clip(spec.arch, device="meta")
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    elif spec.family == "timm":
        import timm

        with torch.device("meta"):
            model = timm.create_model(spec.arch, pretrained=False, num_classes=0)
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    else:
        raise ValueError(f"no random weights for model family {spec.family!r} ({spec.name})")
    state = {}
    for key in sorted(shapes):
        tensor = _normal(shapes[key], generator)
        if key.endswith(("ln_1.weight", "ln_2.weight", "ln_pre.weight", "ln_post.weight", "norm.weight")) or (
            key.endswith(".weight") and key.split(".")[-2].startswith(("norm", "ln_final"))
        ):
            tensor = 1.0 + tensor  # layer-norm gains around 1, as after init, so features do not vanish
        state[key] = tensor.contiguous()
    return state


def write_random_weights(name: str, path: str | Path, seed: int = 0) -> Path:
    """Write random weights for registry model `name` to the safetensors file `path` (atomically)."""
    spec = get_model(name)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        save_file(random_state(spec, seed), tmp, metadata={"format": "pt", "random_seed": str(seed), "model": name})
    return path
