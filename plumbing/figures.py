"""Figures saved the same way everywhere: atomically (a temporary name in the same folder, then `os.replace`), with
no timestamp or version string in the file, so the same figure gives byte-identical files. matplotlib is imported by
the caller; this module only writes what it is handed."""

from __future__ import annotations

import os
from pathlib import Path

#: Fixed text sizes, so that a user's matplotlibrc cannot change the files (use with `matplotlib.rc_context`).
RC = {"font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "legend.fontsize": 7, "font.family": "DejaVu Sans"}
MAX_PX = 2000  # a PNG's longer side at most, whatever the number of panels
_METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None}}


def save_as(fig, path: str | Path, dpi: float) -> Path:
    """Write `fig` to `path` (PNG or PDF by suffix) atomically, reproducibly and at most `MAX_PX` on a side."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = fig.get_size_inches()
    dpi = min(dpi, MAX_PX / max(width, height))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format=fmt, dpi=dpi, metadata=_METADATA[fmt], facecolor="white")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_figure(fig, out_stem: str | Path, dpi: float) -> tuple[Path, Path]:
    """Write `fig` as `<out_stem>.png` and `<out_stem>.pdf` (`save_as`); returns their paths."""
    out_stem = Path(out_stem)
    # Append rather than with_suffix: a stem like "fig.bars" must not lose its ".bars".
    png, pdf = (out_stem.with_name(f"{out_stem.name}.{ext}") for ext in ("png", "pdf"))
    return save_as(fig, png, dpi), save_as(fig, pdf, dpi)
