"""Reading trained LoRA files and run records for the analysis (pure numpy, no torch).

- `layer_similarity`: per layer, how alike a content and a style LoRA are, as the mean |cos| between the rows of
  their ΔW = B·A. A row of PyTorch's (out × in) weight is one *output channel*, which is what UnZipLoRA's code calls
  a "column" (spec §1.3): column separation should drive these cosines (and their overlap) down.
- `similarity_summary`: the per-layer table reduced to one row per method.
- `column_fractions`: the realised column-mask fractions a run recorded in `run.json["columns"]`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import load_file

#: Key prefixes that name the model part, not the module: diffusers writes `unet.`, older exports `lora.`.
_PREFIXES = ("unet.", "lora.", "base_model.model.")
#: Suffix → factor, for the two LoRA factor naming schemes (peft/diffusers and kohya-style down/up).
_FACTORS = {".lora_A.weight": "A", ".lora_down.weight": "A", ".lora_B.weight": "B", ".lora_up.weight": "B"}

SIMILARITY_COLUMNS = ["layer", "mean_abs_cos", "n_channels", "frac_zero"]


def natural_key(name: str) -> tuple:
    """Sort key that orders the numbers inside module names by value (`transformer_blocks.2` before `.10`)."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", name))


def _module_name(key: str) -> str:
    stripped = True
    while stripped:  # prefixes may stack ("lora.unet.")
        stripped = False
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key, stripped = key[len(prefix) :], True
    return key


def load_lora_factors(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Module name → (A, B) of one LoRA file, with A (r × in) and B (out × r) as float64.

    A stored `.alpha` folds alpha/r into B, so that B·A is the layer's actual ΔW (the project's own files store
    none: their B rows already carry the LoRA scale). Conv LoRAs are flattened to 2-D.
    """
    tensors = load_file(str(path))
    parts: dict[str, dict[str, np.ndarray]] = {}
    alphas: dict[str, float] = {}
    for key, value in tensors.items():
        for suffix, factor in _FACTORS.items():
            if key.endswith(suffix):
                parts.setdefault(_module_name(key[: -len(suffix)]), {})[factor] = value
                break
        else:
            if key.endswith(".alpha"):
                alphas[_module_name(key[: -len(".alpha")])] = float(np.asarray(value).reshape(-1)[0])
    factors = {}
    for module, pair in parts.items():
        if set(pair) != {"A", "B"}:
            raise ValueError(f"{path}: module {module} has {sorted(pair)} but needs both lora_A and lora_B")
        a = pair["A"].astype(np.float64).reshape(pair["A"].shape[0], -1)
        b = pair["B"].astype(np.float64).reshape(pair["B"].shape[0], -1)
        if module in alphas:
            b = b * (alphas[module] / a.shape[0])
        factors[module] = (a, b)
    return factors


def row_similarity(a_c: np.ndarray, b_c: np.ndarray, a_s: np.ndarray, b_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|cos| between matching rows of ΔW_c = B_c·A_c and ΔW_s = B_s·A_s, and the mask of rows where either is zero.

    Works through the r×r Gram matrices instead of the dense (out × in) products: row j's inner product is
    B_c[j]·(A_c A_sᵀ)·B_s[j], which costs O(out·r²) rather than O(out·in·r) for SDXL's 560 layers.
    Returns (abs_cos, zero) over all rows; abs_cos is NaN where `zero` is True.
    """
    if b_c.shape[0] != b_s.shape[0] or a_c.shape[1] != a_s.shape[1]:
        raise ValueError(f"ΔW shapes differ: {b_c.shape[0]}×{a_c.shape[1]} vs {b_s.shape[0]}×{a_s.shape[1]}")
    dot = ((b_c @ (a_c @ a_s.T)) * b_s).sum(axis=1)  # matmuls, not einsum: einsum's 3-operand loop is ~100× slower
    norm2_c = ((b_c @ (a_c @ a_c.T)) * b_c).sum(axis=1)
    norm2_s = ((b_s @ (a_s @ a_s.T)) * b_s).sum(axis=1)
    # A masked output channel is an exactly zero B row (the mask is baked into B), so its norm² is exactly 0;
    # the Gram form can leave tiny negative round-off elsewhere, hence the clip before the sqrt.
    zero = ~(b_c != 0).any(axis=1) | ~(b_s != 0).any(axis=1) | (norm2_c <= 0) | (norm2_s <= 0)
    denom = np.sqrt(np.clip(norm2_c, 0, None) * np.clip(norm2_s, 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(zero, np.nan, np.abs(dot) / np.where(zero, 1.0, denom))
    return np.minimum(cos, 1.0), zero  # round-off can put |cos| a hair above 1


def layer_similarity(content_file: Path, style_file: Path) -> pd.DataFrame:
    """Per shared layer: mean over output channels of |cos| between the content and the style ΔW rows.

    Columns: layer (module name), mean_abs_cos, n_channels (the layer's output channels, all of them),
    frac_zero (fraction of channels skipped because the content or the style row is zero, i.e. masked out).
    mean_abs_cos averages the remaining channels (NaN if none remain). Rows follow module-name order
    (numbers by value). Layers present in only one file are left out; B-LoRA's two files share none, which
    gives an empty frame.
    """
    content, style = load_lora_factors(Path(content_file)), load_lora_factors(Path(style_file))
    rows = []
    for layer in sorted(content.keys() & style.keys(), key=natural_key):
        cos, zero = row_similarity(*content[layer], *style[layer])
        kept = cos[~zero]
        rows.append(
            {
                "layer": layer,
                "mean_abs_cos": float(kept.mean()) if kept.size else float("nan"),
                "n_channels": int(cos.size),
                "frac_zero": float(zero.mean()),
            }
        )
    frame = pd.DataFrame(rows, columns=SIMILARITY_COLUMNS)
    return frame.astype({"mean_abs_cos": float, "n_channels": int, "frac_zero": float})


def run_similarity(run_dir: Path) -> pd.DataFrame:
    """`layer_similarity` of a run folder's `content.safetensors` and `style.safetensors`."""
    run_dir = Path(run_dir)
    return layer_similarity(run_dir / "content.safetensors", run_dir / "style.safetensors")


def similarity_summary(layers: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per method from its `layer_similarity` frame.

    Columns: method, n_layers (shared layers), n_channels, frac_zero (over all channels), mean_abs_cos (over all
    kept channels, so every output channel weighs the same), median_layer (median of the per-layer means).
    A method without shared layers gets n_layers 0 and NaN similarities.
    """
    rows = []
    for method, frame in layers.items():
        channels = frame["n_channels"].to_numpy(dtype=float)
        kept = channels * (1.0 - frame["frac_zero"].to_numpy(dtype=float))
        means = frame["mean_abs_cos"].to_numpy(dtype=float)
        valid = kept > 0
        rows.append(
            {
                "method": method,
                "n_layers": len(frame),
                "n_channels": int(channels.sum()),
                "frac_zero": float(1 - kept.sum() / channels.sum()) if channels.sum() else float("nan"),
                "mean_abs_cos": float((means[valid] * kept[valid]).sum() / kept[valid].sum())
                if valid.any()
                else float("nan"),
                "median_layer": float(np.median(means[valid])) if valid.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=["method", "n_layers", "n_channels", "frac_zero", "mean_abs_cos", "median_layer"])


def column_fractions(records: dict[str, dict]) -> pd.DataFrame:
    """Realised column-mask fractions from run records (`run.json` dicts), one row per method, stage, group, LoRA.

    Columns: method, stage ("round 1", …, then "final": the masks as saved), step (the training step of a
    selection round; NaN for final), group (block group: shared/content/style), adapter (content/style),
    fraction. Methods whose record has `columns` None (no column separation) contribute no rows.
    """
    rows = []
    for method, record in records.items():
        columns = record.get("columns")
        if not columns:
            continue
        stages = [
            (f"round {i + 1}", r.get("step"), r.get("mask_fraction", {}))
            for i, r in enumerate(columns.get("rounds") or [])
        ]
        stages.append(("final", None, columns.get("final_mask_fraction") or {}))
        for stage, step, fractions in stages:
            for group, per_adapter in fractions.items():
                for adapter, fraction in per_adapter.items():
                    rows.append(
                        {
                            "method": method,
                            "stage": stage,
                            "step": float("nan") if step is None else float(step),
                            "group": group,
                            "adapter": adapter,
                            "fraction": float(fraction),
                        }
                    )
    return pd.DataFrame(rows, columns=["method", "stage", "step", "group", "adapter", "fraction"])
