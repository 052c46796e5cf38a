"""Writing score rows (CSV or Parquet) atomically. No torch import: light workflow jobs use it too."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from metrics.errors import MetricsError
from plumbing.files import atomic_file


def write_rows(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write score rows as CSV or Parquet (by suffix), through a temporary file and an atomic rename."""
    path = Path(path)
    if path.suffix not in (".csv", ".parquet"):
        raise MetricsError(f"cannot write {path}: use a .csv or .parquet file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        if path.suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    return path
