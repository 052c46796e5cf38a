"""Reading generated and reference images for scoring: any PIL mode becomes upright RGB.

Kept separate from `unziplora.images` on purpose (`metrics/` never imports `unziplora/`); the conventions match:
EXIF transpose, transparency composited onto white, 16-bit grayscale scaled to 8 bits.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

from metrics.errors import MetricsError


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
    return _to_rgb(image)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: scale to 8 bits first (a plain convert would clip to white).
        image = image.point(lambda v: v / 257).convert("L")
    return image.convert("RGB")
