"""Where a metric model's weights come from: a local file/folder named in the config, or the Hugging Face hub
cache (downloaded on first use unless offline). The CSD pickle is converted once into safetensors.

`resolve` never downloads when offline and then fails with a one-line error naming the missing weights and the
command that fetches them; `fetch` is that command's body (download, checksum, conversion).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from metrics.config import MetricConfig
from metrics.errors import MetricsError
from metrics.registry import PROJECT, ModelSpec

FETCH_COMMAND = "python -m metrics fetch"


@dataclass(frozen=True)
class ResolvedWeights:
    """A loadable safetensors file and where it came from (recorded in every score row)."""

    model: str
    path: Path
    repo: str  # hub repo id, or "local"
    revision: str  # the commit actually used, or the local file's path


def resolve(spec: ModelSpec, config: MetricConfig, download: bool | None = None) -> ResolvedWeights:
    """The weights file for `spec`: `config.weights[spec.name]` if given, else the hub file at the pinned revision
    (from the cache; downloaded when `download` — default: not offline). CSD pickles come back converted."""
    download = (not config.is_offline) if download is None else download
    local = config.weights.get(spec.name)
    if local:
        path = _local_file(spec, Path(local))
        repo, revision = "local", str(path.resolve())
    elif spec.weights.repo == PROJECT:
        path = _project_file(spec)
        repo, revision = PROJECT, spec.weights.filename
    else:
        path = _hub_file(spec, config, download)
        repo, revision = spec.weights.repo, _commit_of(path, config.revisions.get(spec.name, spec.weights.revision))
    if spec.weights.fmt == "csd_pickle" and path.suffix != ".safetensors":
        path = _converted(spec, path, config, source=f"{repo}@{revision}")
    return ResolvedWeights(spec.name, path, repo, revision)


def fetch(spec: ModelSpec, config: MetricConfig) -> ResolvedWeights:
    """Download (unless offline) and verify `spec`'s weights file, and convert it if needed: after this, scoring
    runs offline. The checksum is checked whenever the registry pins one."""
    if not config.weights.get(spec.name) and spec.weights.repo != PROJECT:
        _hub_file(spec, config, download=not config.is_offline, verify=True)
    return resolve(spec, config)


def _project_file(spec: ModelSpec) -> Path:
    """A weights file committed with this project (found from this package's checkout)."""
    path = Path(__file__).resolve().parents[1] / spec.weights.filename
    if not path.is_file():
        raise MetricsError(
            f"weights of {spec.name} ({spec.weights.filename}) are not in this checkout; run from a clone of the "
            f"project, or set weights.{spec.name} to the file"
        )
    return path


def _local_file(spec: ModelSpec, path: Path) -> Path:
    if path.is_dir():
        candidates = [path / spec.weights.filename, path / f"{spec.name}.safetensors"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise MetricsError(
                f"folder {path} given for {spec.name} holds neither {candidates[0].name} nor {candidates[1].name}; "
                "point weights to the file itself"
            )
        return found
    if not path.is_file():
        raise MetricsError(f"weights file {path} given for {spec.name} does not exist; fix the path in the config")
    return path


def _hub_file(spec: ModelSpec, config: MetricConfig, download: bool, verify: bool = False) -> Path:
    """The cached hub file (downloaded if allowed); its sha256 is checked after a download, or when `verify`."""
    from huggingface_hub import hf_hub_download

    w = replace(spec.weights, revision=config.revisions.get(spec.name, spec.weights.revision))
    where = f"{w.repo}@{w.revision}/{w.filename}"
    try:  # the cache first: no network call at all when the file is there
        cached = hf_hub_download(
            w.repo, w.filename, revision=w.revision, cache_dir=config.cache_dir, local_files_only=True
        )
    except Exception as err:  # noqa: BLE001 - any cache miss falls through to the download or the error below
        if not download:
            raise MetricsError(
                f"metric weights for {spec.name} ({where}) are not in the Hugging Face cache and downloads are off; "
                f"run `{FETCH_COMMAND}` on a machine with network access, or set weights.{spec.name} to a local file"
            ) from None
        cache_error = err
    else:
        if verify and w.sha256:
            _check_sha256(Path(cached), w.sha256, spec)
        return Path(cached)
    try:
        path = Path(hf_hub_download(w.repo, w.filename, revision=w.revision, cache_dir=config.cache_dir))
    except Exception as err:  # noqa: BLE001 - network, auth, missing revision: all end in the same advice
        raise MetricsError(
            f"cannot download metric weights for {spec.name} ({where}): the hub is unreachable or has no such file "
            f"({type(err).__name__}); check the network or "
            f"run `{FETCH_COMMAND}` where the hub is reachable, or set weights.{spec.name} to a local file"
        ) from cache_error
    if w.sha256:
        _check_sha256(path, w.sha256, spec)
    return path


def _commit_of(path: Path, requested: str) -> str:
    """The commit a hub-cache file belongs to (`.../snapshots/<commit>/<file>`), else the requested revision."""
    parts = path.parts
    if "snapshots" in parts:
        i = len(parts) - 1 - parts[::-1].index("snapshots")
        if i + 1 < len(parts):
            return parts[i + 1]
    return requested


def _check_sha256(path: Path, expected: str, spec: ModelSpec) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 24), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise MetricsError(
            f"{path} (weights of {spec.name}) has sha256 {digest.hexdigest()[:16]}…, expected {expected[:16]}…; "
            "delete the file and fetch it again"
        )


def _converted(spec: ModelSpec, src: Path, config: MetricConfig, source: str) -> Path:
    """The safetensors conversion of the CSD checkpoint `src`, made once and reused (keyed by source identity)."""
    from metrics.csd import convert_checkpoint

    stat = src.stat()
    key = hashlib.sha256(f"{source}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    dst = config.converted_path / f"{spec.name}-{key}.safetensors"
    if not dst.is_file():
        convert_checkpoint(src, dst, source=source)
    return dst
