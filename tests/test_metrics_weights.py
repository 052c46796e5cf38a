"""Weight resolution: local files, the hub cache layout, offline errors, checksums; the CSD checkpoint
conversion through the allow-listed unpickler and its strict key check."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from metrics.csd import convert_checkpoint, load_csd, read_checkpoint
from metrics.errors import MetricsError
from metrics.registry import MODELS
from metrics.weights import fetch, resolve
from tests.metric_fixtures import offline_config, save_csd_pickle

DINO = MODELS["vit_small_patch16_224.dino"]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _put_in_hub_cache(cache: Path, repo: str, filename: str, src: Path, ref: str = "main") -> Path:
    """Lay out `src` as huggingface_hub's cache does: snapshots/<commit>/<file> plus refs/<branch>."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    shutil.copy(src, snapshot / filename)
    (folder / "refs").mkdir()
    (folder / "refs" / ref).write_text(COMMIT)
    return snapshot / filename


def test_offline_without_cache_names_the_weights_and_the_fetch_command(tmp_path):
    config = offline_config(tmp_path)
    with pytest.raises(MetricsError) as err:
        resolve(DINO, config)
    message = str(err.value)
    assert "vit_small_patch16_224.dino" in message and "timm/vit_small_patch16_224.dino@main" in message
    assert "python -m metrics fetch" in message and "\n" not in message


def test_hub_cache_file_is_found_offline_and_its_commit_recorded(tmp_path, clip_dino_weights):
    config = offline_config(tmp_path)
    cached = _put_in_hub_cache(
        Path(config.cache_dir), DINO.weights.repo, DINO.weights.filename, Path(clip_dino_weights[DINO.name])
    )
    resolved = resolve(DINO, config)
    assert resolved.path == cached and resolved.repo == DINO.weights.repo and resolved.revision == COMMIT


def test_fetch_checks_the_pinned_sha256(tmp_path, clip_dino_weights):
    config = offline_config(tmp_path)
    src = Path(clip_dino_weights[DINO.name])
    _put_in_hub_cache(Path(config.cache_dir), DINO.weights.repo, DINO.weights.filename, src)
    good = hashlib.sha256(src.read_bytes()).hexdigest()
    assert fetch(replace(DINO, weights=replace(DINO.weights, sha256=good)), config).revision == COMMIT
    with pytest.raises(MetricsError, match="has sha256 .* expected 0000000000000000"):
        fetch(replace(DINO, weights=replace(DINO.weights, sha256="0" * 64)), config)


def test_local_weights_paths(tmp_path, clip_dino_weights):
    src = Path(clip_dino_weights[DINO.name])
    assert resolve(DINO, offline_config(tmp_path, {DINO.name: str(src.parent)})).path == src  # a folder works
    resolved = resolve(DINO, offline_config(tmp_path, {DINO.name: str(src)}))
    assert (resolved.repo, resolved.revision) == ("local", str(src.resolve()))
    with pytest.raises(MetricsError, match="does not exist; fix the path"):
        resolve(DINO, offline_config(tmp_path, {DINO.name: str(tmp_path / "nope.safetensors")}))
    with pytest.raises(MetricsError, match="holds neither model.safetensors"):
        resolve(DINO, offline_config(tmp_path, {DINO.name: str(tmp_path)}))


# --- CSD -------------------------------------------------------------------------------------------------------


def _shared_storage_state(drop: str | None = None, add: str | None = None) -> dict[str, torch.Tensor]:
    """The CSD key layout with every tensor a view of one small buffer: the pickle stays ~16 MB."""
    from metrics.csd import csd_state_shapes

    buffer = torch.zeros(4096 * 1024)
    state = {f"module.{k}": buffer[: torch.Size(s).numel()].view(s) for k, s in csd_state_shapes().items()}
    if drop:
        del state[f"module.{drop}"]
    if add:
        state[f"module.{add}"] = buffer[:4]
    return state


@pytest.mark.parametrize(
    "drop, add, message",
    [
        ("last_layer_content", None, "1 missing key.*last_layer_content"),
        (None, "backbone.proj", "1 unexpected key.*backbone.proj"),
    ],
)
def test_csd_conversion_is_strict_and_writes_nothing_on_error(tmp_path, drop, add, message):
    src = save_csd_pickle(tmp_path / "pytorch_model.bin", _shared_storage_state(drop, add))
    with pytest.raises(MetricsError, match=message):
        convert_checkpoint(src, tmp_path / "out" / "csd.safetensors")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-pickle",))


def test_csd_pickle_outside_the_allow_list_is_refused_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = save_csd_pickle(tmp_path / "evil.bin", _shared_storage_state(), payload=_Exploit())
    with pytest.raises(MetricsError, match=r"refusing to unpickle .*evil.bin: it imports posix.system"):
        read_checkpoint(src)
    assert not (tmp_path / "pwned-by-pickle").exists()


def test_csd_checkpoint_without_model_state_dict_is_refused(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "other.bin")
    with pytest.raises(MetricsError, match="no 'model_state_dict'"):
        read_checkpoint(tmp_path / "other.bin")


def test_legacy_non_zip_csd_pickle_is_read_through_the_same_allow_list(tmp_path):
    import argparse

    import numpy as np

    state = {"module.last_layer_style": torch.arange(6.0).reshape(2, 3)}
    checkpoint = {"model_state_dict": state, "args": argparse.Namespace(lr=np.float64(3e-4))}
    legacy = tmp_path / "legacy.pth"
    torch.save(checkpoint, legacy, _use_new_zipfile_serialization=False)  # torch < 1.6's format: no mmap
    assert torch.equal(read_checkpoint(legacy)["last_layer_style"], state["module.last_layer_style"])
    legacy.write_bytes(legacy.read_bytes()[:40])  # truncated
    with pytest.raises(MetricsError, match="legacy \\(non-zip\\) torch pickle"):
        read_checkpoint(legacy)


def test_csd_pickle_converts_once_and_loads_strictly(tmp_path, csd_pickle):
    config = offline_config(tmp_path, {"csd_vit_l.tomg": str(csd_pickle)})
    first = resolve(MODELS["csd_vit_l.tomg"], config)
    assert first.path.suffix == ".safetensors" and first.path.parent == Path(config.converted_dir)
    mtime = first.path.stat().st_mtime_ns
    assert resolve(MODELS["csd_vit_l.tomg"], config).path.stat().st_mtime_ns == mtime  # reused, not redone
    model = load_csd(first.path)
    state = read_checkpoint(csd_pickle)
    assert torch.equal(model.last_layer_style.detach(), state["last_layer_style"])
    assert torch.equal(model.backbone.conv1.weight.detach(), state["backbone.conv1.weight"])


def test_fetch_converts_the_csd_pickle_found_in_the_hub_cache(tmp_path, csd_pickle):
    spec = MODELS["csd_vit_l.tomg"]
    config = offline_config(tmp_path)
    folder = Path(config.cache_dir) / f"models--{spec.weights.repo.replace('/', '--')}" / "snapshots" / COMMIT
    folder.mkdir(parents=True)
    (folder / spec.weights.filename).symlink_to(csd_pickle)  # the hub cache links snapshots to blobs, too
    with pytest.raises(MetricsError, match="are not in the Hugging Face cache"):  # another commit is pinned
        fetch(spec, config)
    spec = replace(spec, weights=replace(spec.weights, revision=COMMIT))
    with pytest.raises(MetricsError, match="has sha256"):  # random weights are not the released file
        fetch(spec, config)
    resolved = fetch(replace(spec, weights=replace(spec.weights, sha256=None)), config)
    assert (resolved.repo, resolved.revision) == (spec.weights.repo, COMMIT)
    assert resolved.path.suffix == ".safetensors" and resolved.path.is_file()


@pytest.mark.parametrize(
    "change, message", [("drop", "1 missing key.*norm.bias"), ("add", "1 unexpected key.*head.weight")]
)
def test_timm_and_open_clip_files_load_strictly(tmp_path, clip_dino_weights, change, message):
    from safetensors.torch import load_file, save_file

    from metrics.models import load_embedder

    state = load_file(clip_dino_weights[DINO.name])
    if change == "drop":
        del state["norm.bias"]
    else:
        state["head.weight"] = torch.zeros(1000, 384)
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(MetricsError, match=message):
        load_embedder(DINO, offline_config(tmp_path, {DINO.name: str(tmp_path / "model.safetensors")}))
    clip = MODELS["ViT-B-32-quickgelu.openai"]
    embedder = load_embedder(clip, offline_config(tmp_path, {clip.name: clip_dino_weights[clip.name]}))
    assert embedder.weights.repo == "local" and embedder.embed_texts(["a cat"]).shape == (1, 512)


def test_config_revision_overrides_the_registry_pin(tmp_path, clip_dino_weights):
    config = offline_config(tmp_path)
    _put_in_hub_cache(
        Path(config.cache_dir), DINO.weights.repo, DINO.weights.filename, Path(clip_dino_weights[DINO.name]), ref="v1"
    )
    with pytest.raises(MetricsError, match="@main/model.safetensors"):  # the registry's "main" is not cached
        resolve(DINO, config)
    pinned = offline_config(tmp_path, revisions={DINO.name: COMMIT})
    assert resolve(DINO, pinned).revision == COMMIT
