"""Build the tiny random SDXL-architecture pipeline and save it as a pipeline folder (the tiny preset's model)."""

import tempfile
from pathlib import Path

from _common import start

from plumbing.files import share
from unziplora.tiny import tiny_pipeline

start(snakemake)
with tempfile.TemporaryDirectory() as tmp:
    pipe = tiny_pipeline(Path(tmp) / "tokenizer", seed=snakemake.params.seed)
    pipe.save_pretrained(Path(snakemake.output[0]).parent, safe_serialization=True)
share(Path(snakemake.output[0]).parent)
print("tiny pipeline written")
