"""Nested settings as plain mappings: merge one over another, and view them as dotted keys (`lora.rank`).

Configs nest (`TrainConfig.lora.rank`), and so do a preset's `train` section, a method's defaults and a variant's pins;
these three helpers are how every layer combines and compares them. No imports: planning may use them cheaply.
"""

from __future__ import annotations


def deep_merge(base: dict, over: dict) -> dict:
    """`over` on top of `base`, recursively for mappings (a key `over` does not name keeps `base`'s value)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def dotted(values: dict, prefix: str = "") -> dict:
    """The leaves of a nested mapping under dotted keys: {"lora": {"rank": 4}} → {"lora.rank": 4}."""
    out = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(dotted(value, name + "."))
        else:
            out[name] = value
    return out


def undotted(values: dict) -> dict:
    """The nested mapping of dotted keys (`dotted`'s inverse)."""
    out: dict = {}
    for key, value in values.items():
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out
