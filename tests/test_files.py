"""Output files appear whole (temporary name, then rename) and with the mode the umask gives any new file."""

from __future__ import annotations

import sys

import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

import plumbing.files
from analysis.writing import write_table
from metrics.rows import write_rows
from plumbing.records import staged_outputs, write_json

# The one home of atomic files (the bottom layer every package imports).
COPIES = [plumbing.files]


def mode(path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.parametrize("files", COPIES)
@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_file_replaces_whole_with_the_umask_mode(files, mask, expected, umask, tmp_path):
    umask(mask)
    target = tmp_path / "table.csv"
    target.write_text("old\n")
    with files.atomic_file(target) as tmp:
        tmp.write_text("new\n")
        assert target.read_text() == "old\n"  # readers see the old file until the rename
    assert target.read_text() == "new\n"
    assert mode(target) == expected
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


@pytest.mark.parametrize("files", COPIES)
@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_file_mode_reads_the_umask_without_setting_it_on_linux(files, mask, umask, monkeypatch):
    # Setting the umask to read it would briefly give other threads' new files mode 0666; Linux shows it in /proc.
    umask(mask)
    if sys.platform == "linux":
        monkeypatch.setattr(files.os, "umask", lambda *_: pytest.fail("file_mode set the process umask"))
    assert files.file_mode() == 0o666 & ~mask


@pytest.mark.parametrize("files", COPIES)
def test_atomic_file_leaves_nothing_on_error(files, tmp_path):
    target = tmp_path / "run.json"
    with pytest.raises(RuntimeError), files.atomic_file(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("fails mid-write")
    assert list(tmp_path.iterdir()) == []


def test_share_gives_every_file_under_a_folder_the_umask_mode(umask, tmp_path):
    umask(0o002)
    (tmp_path / "unet").mkdir()
    for path in (tmp_path / "model_index.json", tmp_path / "unet" / "weights.safetensors"):
        path.write_text("x")
        path.chmod(0o600)
    plumbing.files.share(tmp_path)
    assert {mode(p) for p in tmp_path.rglob("*") if p.is_file()} == {0o664}


def test_staged_safetensors_and_records_come_out_readable(umask, tmp_path):
    out = tmp_path / "run"
    with staged_outputs(out) as stage:
        save_file({"w": torch.zeros(2)}, str(stage / "content.safetensors"))
        (stage / "samples").mkdir()
        save_file({"w": torch.zeros(2)}, str(stage / "samples" / "mask.safetensors"))
        write_json(stage / "run.json", {"seed": 0})
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["content.safetensors", "run.json", "samples/mask.safetensors"]
    assert {mode(p) for p in out.rglob("*") if p.is_file()} == {0o644}


def test_score_rows_and_tables_come_out_readable(umask, tmp_path):
    frame = pd.DataFrame({"method": ["unziplora"], "value": [0.5]})
    rows = write_rows(frame, tmp_path / "scores.csv")
    table, markdown = write_table(frame, "| method |\n", tmp_path / "comparison.csv")
    assert {mode(p) for p in (rows, table, markdown)} == {0o644}
    assert pd.read_csv(rows).equals(frame)
