"""Write the resolved config (preset, user overrides, schema defaults) as YAML, headed by its hash."""

from pathlib import Path

import yaml
from _common import start

from unziplora.files import atomic_file

start(snakemake)
out = Path(snakemake.output[0])
text = f"# resolved config, hash {snakemake.params.config_hash}\n" + yaml.safe_dump(snakemake.params.config)
with atomic_file(out) as tmp:
    tmp.write_text(text)
