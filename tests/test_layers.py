"""The packages' import arrows, read from the source with `ast`, so a wrong import fails here. From the bottom:
`plumbing` (shared helpers: files, records, devices, images, figure saving, mappings) imports no package of ours and
no torch at import time; `unziplora` and `metrics` use it but not each other; `toyworld` and `analysis` may use those;
nothing imports the workflow (its own code, e.g. the GPU slots, lives in workflow/scripts)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"plumbing", "unziplora", "metrics", "toyworld", "analysis", "workflow"}
FORBIDDEN = {
    "plumbing": OURS - {"plumbing"},
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


def module_level_imports(path: Path) -> set[str]:
    """Top-level packages a module imports when it is imported (not inside a function)."""
    names = set()
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_bottom_layer_is_light_and_every_package_uses_it_for_what_it_shares():
    heavy = {"torch", "diffusers", "transformers", "open_clip", "matplotlib", "pandas"}
    files = sorted((ROOT / "plumbing").glob("*.py"))
    assert {f.stem for f in files} >= {"files", "records", "devices", "images", "figures", "mappings"}
    assert not {str(f.name): sorted(module_level_imports(f) & heavy) for f in files if module_level_imports(f) & heavy}
    # no package keeps a copy of a shared helper under its own name
    for package in ("unziplora", "metrics", "analysis", "toyworld"):
        defined = {
            node.name
            for f in (ROOT / package).rglob("*.py")
            for node in ast.parse(f.read_text()).body
            if isinstance(node, ast.FunctionDef)
        }
        shared = {"atomic_file", "file_mode", "share", "write_json", "staged_outputs", "versions", "to_rgb",
                  "_to_rgb", "device_name", "peak_memory", "deep_merge", "from_mapping", "save_figure"}  # fmt: skip
        assert not defined & shared, (package, defined & shared)
