"""CSD, the Contrastive Style Descriptor (Somepalli et al., 2024): model, expected keys, checkpoint conversion.

The authors' model (learn2phoenix/CSD at commit 3a9df32605b869eceb704897839be80977a9f1ea, `CSD/model.py`,
class `CSD_CLIP("vit_large")`) is OpenAI CLIP ViT-L/14's visual tower with its projection removed (`backbone`)
plus two 1024×768 matrices initialised from that projection: `last_layer_style` and `last_layer_content`. Both
outputs are L2-normalised. Their release is a training checkpoint saved from a DataParallel wrapper (keys prefixed
`module.`), pickled together with optimiser state and an `argparse.Namespace`. PyTorch's safe loader refuses it,
so `convert_checkpoint` reads it once through an allow-list and writes the bare state dict as safetensors.

Their backbone key names are open_clip's `VisionTransformer` names, so open_clip's `ViT-L-14-quickgelu` visual
tower is the backbone here (checked key for key by the tests).
"""

from __future__ import annotations

import argparse
import pickle
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from metrics.errors import MetricsError
from metrics.loading import check_keys, create_clip
from plumbing.files import atomic_file

CSD_CODE = "learn2phoenix/CSD@3a9df32605b869eceb704897839be80977a9f1ea"


def csd_state_shapes(width: int = 1024, layers: int = 24, patch: int = 14, image: int = 224, embed: int = 768):
    """Keys and shapes of `CSD_CLIP("vit_large").state_dict()` (without the `module.` prefix), transcribed from
    the authors' model code (see the module docstring): the ViT-L/14 visual tower minus `proj`, and two heads."""
    tokens = (image // patch) ** 2 + 1
    shapes = {
        "backbone.class_embedding": (width,),
        "backbone.positional_embedding": (tokens, width),
        "backbone.conv1.weight": (width, 3, patch, patch),
        "backbone.ln_pre.weight": (width,),
        "backbone.ln_pre.bias": (width,),
    }
    for i in range(layers):
        block = f"backbone.transformer.resblocks.{i}."
        shapes |= {
            block + "ln_1.weight": (width,),
            block + "ln_1.bias": (width,),
            block + "attn.in_proj_weight": (3 * width, width),
            block + "attn.in_proj_bias": (3 * width,),
            block + "attn.out_proj.weight": (width, width),
            block + "attn.out_proj.bias": (width,),
            block + "ln_2.weight": (width,),
            block + "ln_2.bias": (width,),
            block + "mlp.c_fc.weight": (4 * width, width),
            block + "mlp.c_fc.bias": (4 * width,),
            block + "mlp.c_proj.weight": (width, 4 * width),
            block + "mlp.c_proj.bias": (width,),
        }
    shapes |= {
        "backbone.ln_post.weight": (width,),
        "backbone.ln_post.bias": (width,),
        "last_layer_style": (width, embed),
        "last_layer_content": (width, embed),
    }
    return shapes


def _allowed_globals() -> list:
    """Everything a CSD training checkpoint may import besides tensors and plain containers: the run's
    `argparse.Namespace` and numpy scalars (with their dtypes) from the optimiser/args."""
    import numpy as np
    from numpy._core import multiarray

    dtypes = [type(np.dtype(name)) for name in ("float64", "float32", "float16", "int64", "int32", "bool")]
    # Checkpoints written with numpy 1.x name the scalar reconstructor by its old module path.
    legacy_scalar = (multiarray.scalar, "numpy.core.multiarray.scalar")
    return [argparse.Namespace, np.dtype, multiarray.scalar, legacy_scalar, *dtypes]


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The model state dict inside an authors'-format CSD checkpoint, read with torch's weights-only unpickler
    and the allow-list above (never the unrestricted unpickler). Keys lose their `module.` prefix."""
    path = Path(path)
    # mmap only works on the zip format (torch >= 1.6); a legacy pickle is read whole, through the same allow-list.
    legacy = path.is_file() and not zipfile.is_zipfile(path)
    with torch.serialization.safe_globals(_allowed_globals()):
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=not legacy)
        except pickle.UnpicklingError:
            raise MetricsError(
                f"refusing to unpickle {path}: it imports {_unsafe_globals(path)}, which is not on the CSD allow-list "
                "(argparse.Namespace, numpy scalars); use the authors' released checkpoint"
            ) from None
        except (RuntimeError, OSError, EOFError, ValueError) as err:
            kind = "a legacy (non-zip) torch pickle that" if legacy else "a file that"
            detail = (str(err).splitlines() or [type(err).__name__])[0]
            raise MetricsError(
                f"cannot read CSD checkpoint {path}: {kind} torch cannot load ({detail}); "
                "download the authors' release again (`python -m metrics fetch`)"
            ) from None
    state = checkpoint.get("model_state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise MetricsError(f"{path} holds no 'model_state_dict'; it is not a CSD training checkpoint")
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in state.items()}


def _unsafe_globals(path: Path) -> str:
    """Names of the globals in `path` outside torch's and our allow-list, for the error message."""
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # not a zip checkpoint: the name cannot be listed without unpickling
        return "a global"
    allowed = {"argparse.Namespace", "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.dtype"}
    names = [g for g in found if g not in allowed and not g.startswith("numpy.dtypes.")]
    return ", ".join(names) or "a global"


def convert_checkpoint(src: str | Path, dst: str | Path, source: str = "") -> Path:
    """Convert the authors' pickle `src` into a safetensors state dict at `dst` after a strict key/shape check.
    The file appears only when complete (temporary name, then rename)."""
    state = read_checkpoint(src)
    check_keys({k: tuple(v.shape) for k, v in state.items()}, csd_state_shapes(), str(src))
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to(torch.float32).contiguous().clone() for k, v in state.items()}
    with atomic_file(dst) as tmp:
        save_file(tensors, tmp, metadata={"format": "pt", "converted_from": source or str(src), "model_code": CSD_CODE})
    return dst


class CSDModel(nn.Module):
    """CSD: `backbone(x)` (1024-d pooled CLS after ln_post) times each head, L2-normalised."""

    def __init__(self, arch: str = "ViT-L-14-quickgelu") -> None:
        super().__init__()
        with torch.device("meta"):  # no random init: every tensor comes from the weights file
            visual = create_clip(arch, device="meta").visual
        visual.proj = None
        self.backbone = visual
        width, embed = visual.conv1.out_channels, visual.output_dim
        self.last_layer_style = nn.Parameter(torch.empty(width, embed, device="meta"))
        self.last_layer_content = nn.Parameter(torch.empty(width, embed, device="meta"))

    def forward(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        feature = self.backbone(pixels)
        return {
            "style": F.normalize(feature @ self.last_layer_style, dim=-1),
            "content": F.normalize(feature @ self.last_layer_content, dim=-1),
        }


def load_csd(path: str | Path, arch: str = "ViT-L-14-quickgelu") -> CSDModel:
    """A `CSDModel` with the converted weights at `path`, after a strict key and shape check."""
    state = load_file(str(path))
    check_keys({k: tuple(v.shape) for k, v in state.items()}, csd_state_shapes(), str(path))
    model = CSDModel(arch)
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()
