"""The bottom layer: small helpers every package may use (unziplora, metrics, analysis, toyworld and the workflow),
importing none of them and no torch at import time. Files that appear whole (`files`), run records (`records`),
devices (`devices`), image conversion (`images`), figure saving (`figures`) and nested settings (`mappings`)."""
