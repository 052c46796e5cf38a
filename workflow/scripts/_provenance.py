"""Settings as records: their canonical form (`plain`), a short hash, their differences, and one run's settings.
Used at planning (common.smk), by the score job (which records what it scored) and by the tables' check
(`_checks.py`)."""

from __future__ import annotations

import hashlib
import json


def settings_hash(value) -> str:
    """A short hash of JSON-able settings (key order does not matter)."""
    # "s" first: a bare hex string like 7691e5399332 reads as a number (inf) in pandas and spreadsheets
    return "s" + hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]


def plain(value):
    """`value` as JSON gives it back, keys sorted (tuples become lists), so that settings compare equal to their
    records, and a rule's params do not change with the order keys were given in (Snakemake compares them in order)."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def differences(old, new, where: str = "") -> list[str]:
    """The settings that differ between `old` and `new`, as "key: old → new" (nested keys dotted)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            out += differences(old.get(key), new.get(key), f"{where}.{key}" if where else str(key))
        return out
    return [] if old == new else [f"{where}: {json.dumps(old)} → {json.dumps(new)}"]


def run_settings(expected: dict, method: str, image: str, seed: int | str) -> dict:
    """The settings of one run (method, image, training seed), from the selection's settings (`_settings.
    expected_settings`): its method's training settings, the image's prompts and training file, the seed. What the
    train job is handed and records."""
    return plain(
        {
            **expected["train"][method],
            "prompts": expected["prompts"][image],
            "image": expected["images"][image],
            "seed": int(seed),
        }  # fmt: skip
    )
