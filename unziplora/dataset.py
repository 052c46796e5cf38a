"""Input images of a benchmark: the sheet's seeded choice of a training file, fetching a file (local copy or
download) with its sha256 checked, and the prepared training view (EXIF, alpha onto white, resize, centre crop).

No torch import: planning a 40-image workflow reads the sheet through the workflow, and this module only moves
bytes and pixels.
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.request
from pathlib import Path

from plumbing.files import atomic_file
from unziplora.images import load_image, square_crop


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, read in 16 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 24), b""):
            digest.update(chunk)
    return digest.hexdigest()


def draw_train_file(image_id: str, files: list[str], seed: int) -> str:
    """The training file of an id with several files: a seeded draw that depends only on (seed, id, file names),
    not on the sheet's row order, so adding an image never changes another image's choice."""
    ordered = sorted(files)
    key = hashlib.sha256(f"{seed}:{image_id}".encode()).digest()
    return ordered[int.from_bytes(key[:8], "big") % len(ordered)]


def fetch_file(dst: str | Path, sha256: str, local: str | Path | None = None, url: str | None = None) -> Path:
    """Copy `local` (if given) or download `url` to `dst`, and keep it only if its sha256 is `sha256`.

    The file appears at `dst` only when complete and verified (temporary name, then rename); a mismatch is a
    ValueError naming both hashes and the fix.
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(dst) as tmp:
        if local is not None:
            if not Path(local).is_file():
                raise FileNotFoundError(f"image file {local} does not exist; fix images_dir or the sheet's file name")
            shutil.copyfile(local, tmp)
            source = str(local)
        elif url:
            try:
                with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
                    shutil.copyfileobj(response, out)
            except OSError as err:
                raise ValueError(
                    f"cannot download {url} ({err}); check the network, or set images_dir to a local copy"
                ) from None
            source = url
        else:
            raise ValueError("neither a local file nor a URL was given; set images_dir or the sheet's source URL")
        found = sha256_of(tmp)
        if found != sha256:
            raise ValueError(
                f"checksum mismatch for {source}: sha256 {found[:16]}…, the sheet expects {sha256[:16]}…; "
                "replace the file with the original or fix the sheet"
            )
    return dst


def prepare_image(src: str | Path, dst: str | Path, resolution: int) -> dict:
    """Write the training view of `src` to the PNG `dst` (atomically) and return what was done: EXIF transpose,
    alpha onto white, shorter side to `resolution`, centre crop. Unreadable files raise one-line ValueErrors."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    crop, info = square_crop(load_image(src), resolution)
    with atomic_file(dst, suffix=".png") as tmp:
        crop.save(tmp, format="PNG")
    return {**info, "source_sha256": sha256_of(src)}
