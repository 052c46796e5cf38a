"""Loading the base SDXL pipeline from a local folder or a Hugging Face hub id, with one-line errors."""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch
from diffusers import StableDiffusionXLPipeline

#: "owner/name" as the hub spells repository ids.
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def hub_offline() -> bool:
    """Whether the user switched the hub off (HF_HUB_OFFLINE=1), read at call time."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def load_pipeline(
    model: str, dtype: torch.dtype = torch.float32, revision: str | None = None
) -> StableDiffusionXLPipeline:
    """An SDXL pipeline from a local folder (`save_pretrained` layout; works offline) or a hub id.

    A hub id is first looked up in the local cache only; it is downloaded only when that fails and the hub is
    not switched off. `revision` pins a hub id to a commit (ignored for folders). Every failure is a ValueError
    that names the problem and the fix.
    """
    path = Path(model).expanduser()
    if path.exists() or not HUB_ID.match(model) or model.startswith((".", "~")):
        return _from_folder(path, dtype)
    try:
        return StableDiffusionXLPipeline.from_pretrained(model, dtype=dtype, revision=revision, local_files_only=True)
    except Exception as cached_err:  # noqa: BLE001 - many library error types mean "not in the cache"
        if hub_offline():
            raise ValueError(
                f"model {model} is neither a local folder nor in the Hugging Face cache, and HF_HUB_OFFLINE is set; "
                f"download it once with network access (`hf download {model}"
                f"{f' --revision {revision}' if revision else ''}`) or pass a pipeline folder"
            ) from cached_err
    try:
        return StableDiffusionXLPipeline.from_pretrained(model, dtype=dtype, revision=revision)
    except Exception as err:  # noqa: BLE001
        raise ValueError(
            f"model {model} is not a local folder and cannot be downloaded ({_first_line(err)}); check the path, "
            f"the network and the hub id, or pass a local pipeline folder (save_pretrained layout)"
        ) from None


def _from_folder(path: Path, dtype: torch.dtype) -> StableDiffusionXLPipeline:
    if not path.is_dir():
        raise ValueError(f"model folder {path} does not exist; pass a pipeline folder or a hub id such as owner/name")
    if not (path / "model_index.json").is_file():
        raise ValueError(
            f"model folder {path} is not a diffusers pipeline (no model_index.json); pass a folder written by "
            f"save_pretrained (e.g. a downloaded stabilityai/stable-diffusion-xl-base-1.0)"
        )
    try:
        return StableDiffusionXLPipeline.from_pretrained(path, dtype=dtype, local_files_only=True)
    except Exception as err:  # noqa: BLE001 - a malformed folder fails in many library-specific ways
        raise ValueError(
            f"model folder {path} is incomplete or corrupt ({_first_line(err)}); re-save or re-download it"
        ) from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:200]}" if text else type(err).__name__
