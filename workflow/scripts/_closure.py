"""The code a rule runs, computed: the import closure of its script over the project's packages, and its hash.

A rule's `code` param is the hash of every project file its script can import (directly or through other project
modules), so editing any of them reruns the rule, and editing anything else does not. Computed from the source
(`ast`), never listed by hand: a list drifts. Imports inside functions count too (a superset of what one run loads);
`tests/test_closure.py` checks the walk against the modules a real run of each script has loaded.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

#: The project's packages; imports of anything else (torch, diffusers, the standard library) are not followed.
PACKAGES = ("plumbing", "unziplora", "metrics", "analysis", "toyworld")


def _module_file(name: str, roots: tuple[Path, ...]) -> Path | None:
    """The file of module `name` in `roots` (package `__init__.py` or module `.py`), or None if not ours."""
    parts = name.split(".")
    for root in roots:
        base = root.joinpath(*parts)
        for candidate in (base / "__init__.py", base.with_suffix(".py")):
            if candidate.is_file():
                return candidate
    return None


def _imported_names(path: Path, package: str) -> set[str]:
    """Every module name `path` imports (absolute; `from a import b` also yields `a.b`, which may be a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def closure(script: Path, packages_root: Path) -> list[Path]:
    """The script and every project file it imports, transitively, sorted. `packages_root` holds the packages;
    modules beside the script (`_common.py`) are followed too. Importing `a.b.c` runs `a/__init__.py` and
    `a/b/__init__.py` first, so those are part of the closure."""
    script = Path(script).resolve()
    roots = (Path(packages_root).resolve(), script.parent)
    seen: set[Path] = set()
    todo: list[tuple[Path, str]] = [(script, "")]
    while todo:
        path, package = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imported_names(path, package):
            top = name.split(".")[0]
            if top not in PACKAGES and not (script.parent / f"{top}.py").is_file():
                continue
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):  # the parent packages' __init__ run first
                prefix = ".".join(parts[:depth])
                found = _module_file(prefix, roots)
                if found is not None and found not in seen:
                    is_package = found.name == "__init__.py"
                    todo.append((found, prefix if is_package else ".".join(parts[: depth - 1])))
    return sorted(seen)


def code_hash(script: Path, packages_root: Path) -> str:
    """A short hash of the script's closure (relative paths and contents), the rule's `code` param."""
    digest = hashlib.sha256()
    root = Path(packages_root).resolve()
    for path in closure(script, packages_root):
        name = path.relative_to(root) if path.is_relative_to(root) else path.name
        digest.update(str(name).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
