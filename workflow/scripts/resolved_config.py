"""Write the resolved config of this planning (preset, user overrides, schema defaults; no key that changes no
output) as YAML, for the report. The tables' provenance is their own (tables/provenance.json)."""

from pathlib import Path

import yaml
from _common import start

from plumbing.files import atomic_file

start(snakemake)
out = Path(snakemake.output[0])
header = "# the resolved config of the last planning, for the report (the tables: tables/provenance.json)\n"
with atomic_file(out) as tmp:
    tmp.write_text(header + yaml.safe_dump(snakemake.params.config))
