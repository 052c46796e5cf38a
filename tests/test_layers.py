"""The packages' import arrows (docs: unziplora and metrics are the bottom layers; toyworld and analysis may use
them; nothing imports the workflow): read from the source with `ast`, so a wrong import fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "unziplora": {"metrics", "toyworld", "analysis", "workflow"},
    "metrics": {"unziplora", "toyworld", "analysis", "workflow"},
    "toyworld": {"analysis", "workflow"},
    "analysis": {"toyworld", "workflow"},
}


def imported_packages(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_its_layer_may(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, package
    wrong = {str(f.relative_to(ROOT)): sorted(imported_packages(f) & FORBIDDEN[package]) for f in files}
    assert not {f: w for f, w in wrong.items() if w}
