"""Shared fixtures: a tiny SDXL-architecture pipeline built from config in memory (no downloads)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from unziplora.config import PromptSet, TrainConfig
from unziplora.tiny import tiny_pipeline

from .workflow_project import copy_project, project_env, snakemake

# The tiny models gain nothing from intra-op threads, and several suites sharing a few cores make OpenMP threads
# spin against each other (steps 100× slower); one thread keeps the suite's time steady.
torch.set_num_threads(1)


@pytest.fixture
def umask():
    """The usual umask 022, set explicitly (under it every file we write must come out 0644, so a writer that forces
    owner-only files, like mkstemp or safetensors >= 0.8.1, shows up); yields `os.umask` to set another; restores."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.fixture
def tiny_pipe(tmp_path):
    """A fresh tiny pipeline (seeded random weights) whose CLIP tokenizer reads a vocabulary written here."""
    return tiny_pipeline(tmp_path / "tokenizer", seed=0)


@pytest.fixture
def prompts():
    return PromptSet.from_names("cat", "sketch")


@pytest.fixture
def image():
    """A small deterministic RGB test image with structure (a square on a gradient)."""
    x = torch.linspace(0, 255, 48).to(torch.uint8)
    arr = torch.stack([x.expand(40, 48), x.flip(0).expand(40, 48), torch.full((40, 48), 90, dtype=torch.uint8)], -1)
    arr[10:30, 14:34] = torch.tensor([250, 240, 20], dtype=torch.uint8)
    return Image.fromarray(arr.numpy())


def tiny_config(**changes) -> TrainConfig:
    """A fast training config for the tiny pipeline."""
    base = dict(steps=12, resolution=32, lora={"rank": 4}, progress=False, device="cpu")
    base.update(changes)
    return TrainConfig(**base)


def unet_inputs(pipe, batch: int = 1, seed: int = 0) -> dict:
    """Random UNet inputs of the right shapes for `pipe.unet` (latents, timestep, text and time conditioning)."""
    g = torch.Generator().manual_seed(seed)
    cfg = pipe.unet.config
    width = cfg.cross_attention_dim
    pooled = cfg.projection_class_embeddings_input_dim - 6 * cfg.addition_time_embed_dim
    return dict(
        sample=torch.randn(batch, 4, 16, 16, generator=g),
        timestep=torch.tensor([500]),
        encoder_hidden_states=torch.randn(batch, 77, width, generator=g),
        added_cond_kwargs={
            "text_embeds": torch.randn(batch, pooled, generator=g),
            "time_ids": torch.tensor([[32.0, 32, 0, 0, 32, 32]]).repeat(batch, 1),
        },
    )


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A finished `tiny` run (every rule, report included), made once per session. Each job wrote the project files
    it had imported to <root>/modules/ (workflow/scripts/_common.py; tests/test_closure.py reads them)."""
    root = copy_project(tmp_path_factory.mktemp("tiny"))
    (root / "modules").mkdir()
    env = project_env(root, UNZIPLORA_RECORD_MODULES=str(root / "modules"))
    result = snakemake(root, "--cores", "2", "--config", "preset=tiny", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return root


@pytest.fixture
def tiny_copy(tiny_run, tmp_path) -> Path:
    """A private copy of the finished tiny run (results and Snakemake's metadata, mtimes kept)."""
    dst = tmp_path / "copy"
    shutil.copytree(tiny_run, dst, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


pytest_plugins = ["tests.metric_fixtures"]
