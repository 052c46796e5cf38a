"""Files that appear whole, with the permissions any new file gets.

Two writers we rely on create owner-only (0600) files whatever the umask: `tempfile.mkstemp`, by design, and
safetensors since 0.8.1, which now writes through a temporary file too (safetensors issue #782). A LoRA that a
colleague cannot read on a shared cluster is a bug, so what we write gets `0o666 & ~umask`, the mode `open()` gives.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def file_mode() -> int:
    """The mode `open()` gives a new file under the process's umask."""
    return 0o666 & ~_umask()


def _umask() -> int:
    # Linux (>= 4.7) shows the umask in /proc; reading it there leaves it alone. Elsewhere the only way to read it is
    # to set it and put it straight back, which for an instant gives any file another thread creates mode 0666.
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0)
    os.umask(mask)
    return mask


def share(path: str | Path) -> Path:
    """Give the file `path`, or every file under the folder `path`, the mode a new file gets (see the module doc)."""
    path = Path(path)
    mode = file_mode()
    for item in path.rglob("*") if path.is_dir() else [path]:
        if item.is_file() and not item.is_symlink():
            item.chmod(mode)
    return path


@contextlib.contextmanager
def atomic_file(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary file next to `path` to write to; on success it is renamed to `path` (so readers never see half a
    file) with an ordinary file's mode; on any error it is deleted."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
