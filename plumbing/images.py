"""Image conversion every reader shares: any PIL mode to RGB, alpha composited onto white."""

from __future__ import annotations

from PIL import Image


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB view of any PIL mode; alpha (RGBA, LA, palette transparency) is composited onto white, not dropped."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: scale to 8 bits before the RGB conversion (PIL would clip instead).
        image = image.point(lambda v: v / 257).convert("L")
    return image.convert("RGB")
