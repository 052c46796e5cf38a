"""Loading and preprocessing the input image (spec §1.5): EXIF transpose, alpha onto white, RGB,
resize the shorter side (bilinear), center crop, scale to [-1, 1]."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, ImageOps
from torchvision import transforms


def load_image(path: str | Path) -> Image.Image:
    """Open an image file as RGB, upright (EXIF), with transparent pixels flattened onto white."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist; pass the path of a PNG or JPEG file")
    try:
        with Image.open(path) as im:
            im.load()
            image = ImageOps.exif_transpose(im)
    except (OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"cannot read image {path} ({err}); pass a valid PNG or JPEG file") from None
    return to_rgb(image)


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


def image_tensor(image: Image.Image, resolution: int) -> torch.Tensor:
    """1×3×R×R tensor in [-1, 1]: shorter side resized to R (bilinear), then center-cropped to R×R."""
    pipeline = transforms.Compose(
        [
            transforms.Resize(resolution, interpolation=transforms.InterpolationMode.BILINEAR),
            transforms.CenterCrop(resolution),
            transforms.ToTensor(),
            transforms.Normalize([0.5], [0.5]),
        ]
    )
    return pipeline(to_rgb(image)).unsqueeze(0)
