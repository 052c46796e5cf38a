"""The column probe: how many columns UnZipLoRA's column selection keeps on a given base model and image.

Column separation picks columns in `columns.rounds` rounds, at steps 1, P + 1, 2P + 1 of a run of T steps
(P = ceil(T / rounds), spec §1.3; `unziplora.lora.columns`). How many it keeps depends on the base model: the faithful
rule drops the columns tied at its cut-off, and ties are common where a layer has few inputs (each Cone score counts
over them). The probe trains a column method exactly as `train` would, but only until its last selection round (2P + 2
steps of T: 402 of SDXL's 600; 136 of the toy preset's 200), writes no LoRA, and returns every layer's kept fraction
after each round. Round 1 alone (`rounds=1`) costs 2 steps.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image

from unziplora.config import PromptSet, TrainConfig
from unziplora.train import train


def probe_steps(config: TrainConfig, rounds: int | None = None) -> int:
    """Training steps the probe of `rounds` rounds (default: all of the config's) runs: the last selection is at
    step (rounds - 1) · P + 1, counted from 0."""
    rounds = rounds or config.columns.rounds
    return (rounds - 1) * math.ceil(config.steps / config.columns.rounds) + 2


def probe_columns(
    pipe, image: Image.Image | str | Path, prompts: PromptSet, config: TrainConfig, rounds: int | None = None
) -> tuple[list[dict], dict]:
    """Train `config.method` (a column method) on `image` up to its `rounds`-th selection round (default: all) and
    return (rows, record): one row per round, layer and LoRA with its block group, the columns kept and the layer's
    columns, and the run record (timing, device, the selection's history). Nothing is written; the pipeline's UNet is
    left as it was."""
    rounds = rounds or config.columns.rounds
    if not 1 <= rounds <= config.columns.rounds:
        raise ValueError(f"rounds must be between 1 and columns.rounds ({config.columns.rounds}), got {rounds}")
    record = train(pipe, image, prompts, config, None, probe_rounds=rounds)
    rows = []
    for entry in record["columns"]["rounds"]:
        for key, (group, kept, columns) in entry["layers"].items():
            layer, adapter = key.rsplit(":", 1)
            rows.append({"round": entry["round"] + 1, "step": entry["step"], "layer": layer, "group": group,
                         "adapter": adapter, "kept": kept, "columns": columns})  # fmt: skip
    return rows, record
