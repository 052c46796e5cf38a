"""Write the resolved config (preset, user overrides, schema defaults) as YAML, headed by its hash."""

import os
import tempfile
from pathlib import Path

import yaml
from _common import start

start(snakemake)
out = Path(snakemake.output[0])
text = f"# resolved config, hash {snakemake.params.config_hash}\n" + yaml.safe_dump(snakemake.params.config)
fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
with os.fdopen(fd, "w") as fh:
    fh.write(text)
os.replace(tmp, out)
