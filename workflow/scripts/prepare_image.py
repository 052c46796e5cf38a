"""Fetch an image's training file (local copy or download, sha256-checked) and write its training view."""

import json
import tempfile
from pathlib import Path

from _common import start
from _runtime import local_file

from unziplora.dataset import fetch_file, prepare_image

runtime = start(snakemake)
image, source = snakemake.wildcards.image, snakemake.params.source
local = local_file(runtime.images_dir, image, source["file"]) if runtime.images_dir else None
with tempfile.TemporaryDirectory() as tmp:
    fetched = fetch_file(Path(tmp) / Path(source["file"]).name, source["sha256"], local=local, url=source["url"])
    info = prepare_image(fetched, snakemake.output.png, snakemake.params.resolution)
info.update(image_id=image, train_file=source["file"], origin=str(local or source["url"]))
Path(snakemake.output.info).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
print(f"prepared {source['file']}: {info}")
