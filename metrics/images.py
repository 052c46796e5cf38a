"""Reading generated and reference images for scoring: any PIL mode becomes upright RGB.

The same conventions as `unziplora.images`: EXIF transpose, and the one RGB conversion of the bottom layer
(`plumbing.images.to_rgb`: transparency composited onto white, 16-bit grayscale scaled to 8 bits).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

from metrics.errors import MetricsError
from plumbing.images import to_rgb


def read_rgb(path: str | Path) -> Image.Image:
    """Open `path` as an upright RGB image, or raise a one-line `MetricsError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise MetricsError(f"image {path} does not exist; check the path (generated images must be written first)")
    try:
        with Image.open(path) as im:
            im.load()
            image = ImageOps.exif_transpose(im)
    except Image.DecompressionBombError:
        raise MetricsError(f"image {path} is too large to decode safely; downscale it before scoring") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise MetricsError(f"cannot read image {path} ({err}); pass a valid PNG or JPEG file") from None
    return to_rgb(image)
