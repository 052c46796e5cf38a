"""Random-weight metric models of the exact registry architectures, saved in each real checkpoint's format.

- CLIP: open_clip's state dict as `open_clip_model.safetensors` (the hub file of `timm/*_clip_224.openai`).
- DINO: timm's state dict as `model.safetensors` (the hub file of `timm/vit_small_patch16_224.dino`).
- CSD: the authors' training checkpoint layout: a pickle of {"model_state_dict": {"module.backbone.…", "module.
  last_layer_style", "module.last_layer_content"}, optimiser state, "iter", "args": argparse.Namespace} with
  numpy scalars, as `pytorch_model.bin`. The backbone comes from open_clip's ViT-L/14 visual tower, not from our
  transcribed key list, so the loader's key check is tested against an independent source.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import open_clip
import pytest
import timm
import torch
from safetensors.torch import save_file

from metrics.config import MetricConfig
from metrics.loading import create_clip


def _randomise(module: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.02, generator=g)


def save_clip(folder: Path, arch: str = "ViT-B-32-quickgelu") -> Path:
    model = create_clip(arch)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "open_clip_model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
    return path


def save_dino(folder: Path) -> Path:
    torch.manual_seed(0)
    model = timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=0)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.safetensors"
    save_file(model.state_dict(), path)
    return path


def csd_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """The authors' `model_state_dict` layout with random weights (DataParallel `module.` prefix included)."""
    with torch.device("meta"):
        visual = open_clip.create_model("ViT-L-14-quickgelu", pretrained=None, device="meta").visual
    visual = visual.to_empty(device="cpu")
    _randomise(visual, seed)
    proj = visual.proj.detach()
    state = {f"module.backbone.{k}": v for k, v in visual.state_dict().items() if k != "proj"}
    state["module.last_layer_style"] = proj.clone()  # the authors copy CLIP's projection into both heads
    state["module.last_layer_content"] = (proj + 0.01 * torch.randn_like(proj)).contiguous()
    return state


def save_csd_pickle(path: Path, state: dict[str, torch.Tensor], **extra) -> Path:
    """Pickle `state` as the authors' train_csd.py did (`torch.save` of the save_dict)."""
    args = argparse.Namespace(arch="vit_large", lr=np.float64(3e-4), lam_sty=np.float32(1.0), iters=np.int64(10))
    checkpoint = {
        "model_state_dict": state,
        "opt_bb": {"state": {}, "param_groups": [{"lr": 3e-4, "momentum": 0.9, "params": [0, 1]}]},
        "iter": 100000,
        "args": args,
        **extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return path


@pytest.fixture(scope="session")
def clip_dino_weights(tmp_path_factory) -> dict[str, str]:
    """Local weights for the CLIP ViT-B/32 and DINO entries (model name → file)."""
    root = tmp_path_factory.mktemp("metric_weights")
    return {
        "ViT-B-32-quickgelu.openai": str(save_clip(root / "clip")),
        "vit_small_patch16_224.dino": str(save_dino(root / "dino")),
    }


@pytest.fixture(scope="session")
def csd_pickle(tmp_path_factory) -> Path:
    """A random-weight CSD checkpoint in the authors' pickle format."""
    return save_csd_pickle(tmp_path_factory.mktemp("csd") / "pytorch_model.bin", csd_state())


def offline_config(tmp_path: Path, weights: dict[str, str] | None = None, **changes) -> MetricConfig:
    """A config that cannot reach the hub: empty cache, conversions under tmp_path, no progress bars."""
    base = dict(
        weights=dict(weights or {}),
        cache_dir=str(tmp_path / "hf-cache"),
        converted_dir=str(tmp_path / "converted"),
        offline=True,
        progress=False,
        device="cpu",
    )
    base.update(changes)
    return MetricConfig(**base)
