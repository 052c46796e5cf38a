"""Fetch an image's training file (local copy or download, sha256-checked) and write its training view."""

import json
import tempfile
from pathlib import Path

from _common import start

from unziplora.dataset import fetch_file, prepare_image

config = start(snakemake)
local, url, sha256, name = snakemake.params.source
with tempfile.TemporaryDirectory() as tmp:
    source = fetch_file(Path(tmp) / Path(name).name, sha256, local=local, url=url)
    info = prepare_image(source, snakemake.output.png, snakemake.params.resolution)
info.update(image_id=snakemake.wildcards.image, train_file=name, origin=str(local or url))
Path(snakemake.output.info).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
print(f"prepared {name}: {info}")
