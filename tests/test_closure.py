"""Each rule's code hash covers what its script runs: computed from the import closure (workflow/scripts/_closure.py),
checked here two ways: on a made-up package, and against what each job of a real `tiny` run had imported."""

from __future__ import annotations

import sys
from pathlib import Path

from .workflow_project import REPO, imports_outside_closure

sys.path.insert(0, str(REPO / "workflow" / "scripts"))
from _closure import closure, code_hash  # noqa: E402


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_closure_follows_absolute_relative_and_local_imports_and_nothing_else(tmp_path):
    write(tmp_path / "unziplora/__init__.py", "")
    write(tmp_path / "unziplora/a.py", "from .b import thing\nimport os\n")
    write(tmp_path / "unziplora/b.py", "def thing():\n    from unziplora.sub import c\n")
    write(tmp_path / "unziplora/sub/__init__.py", "")
    write(tmp_path / "unziplora/sub/c.py", "import numpy\n")
    write(tmp_path / "unziplora/unused.py", "")
    write(tmp_path / "scripts/_helper.py", "from unziplora import a\n")
    script = write(tmp_path / "scripts/job.py", "from _helper import *\n")
    found = {str(p.relative_to(tmp_path)) for p in closure(script, tmp_path)}
    assert found == {
        "scripts/job.py",
        "scripts/_helper.py",
        "unziplora/__init__.py",
        "unziplora/a.py",
        "unziplora/b.py",
        "unziplora/sub/__init__.py",
        "unziplora/sub/c.py",
    }
    before = code_hash(script, tmp_path)
    write(tmp_path / "unziplora/unused.py", "x = 1\n")
    assert code_hash(script, tmp_path) == before  # not imported: no rerun
    write(tmp_path / "unziplora/sub/c.py", "import numpy\nx = 1\n")
    assert code_hash(script, tmp_path) != before  # imported inside a function, two modules away


def test_every_job_of_a_real_run_imported_only_files_of_its_rules_closure(tiny_run):
    """Each job of the tiny run wrote the project files in its sys.modules at exit (workflow/scripts/_common.py);
    every one must be in the closure its rule's code hash is computed from. oracle_figures runs in the toy presets
    (tests/test_toy_workflow.py checks it on `smoke`), the column probe's on tiny's `column_probe` target
    (tests/test_workflow.py); the toy world's instrument rules (toy_base_model, toy_oracles, toy_probe) are in no test
    DAG: each runs for tens of minutes."""
    missing = imports_outside_closure(tiny_run)
    elsewhere = {"oracle_figures", "toy_base_model", "toy_oracles", "toy_probe", "column_probe", "column_probe_summary"}
    assert set(missing) == {p.stem for p in (REPO / "workflow/scripts").glob("[a-z]*.py")} - elsewhere
    assert not any(missing.values()), missing
