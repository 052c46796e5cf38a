"""Settings as mappings: build a dataclass from one, merge one over another, view them as dotted keys (`lora.rank`).

Configs nest (`TrainConfig.lora.rank`), and so do a preset's `train` section, a method's defaults and a variant's pins;
these helpers are how every layer builds, combines and compares them. No heavy imports: planning uses them.
"""

from __future__ import annotations

import dataclasses


def from_mapping(cls, values, where: str):
    """A settings object of dataclass `cls` from a mapping (YAML/JSON), its defaults where the mapping is silent;
    unknown keys are refused with the known ones, named under `where` (e.g. "train.lora")."""
    if isinstance(values, cls):
        return values
    if not isinstance(values, dict):
        raise ValueError(f"{where} must be a mapping of {cls.__name__} fields, got {values!r}")
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown {where} option(s) {[f'{where}.{u}' for u in unknown]}; known: {known}")
    return cls(**values)


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
