"""Loading and preprocessing the input image (spec §1.5): EXIF transpose, alpha onto white, RGB,
resize the shorter side (bilinear), center crop, scale to [-1, 1]."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageOps

from plumbing.images import to_rgb

if TYPE_CHECKING:
    import torch

#: Smallest accepted shorter side: below this an image holds too little to learn from (it would be upscaled ≥ 16×
#: to SDXL's 1024 px).
MIN_SIDE = 64
#: Largest accepted image, in pixels (PIL's own decompression-bomb limit, ≈ 89 Mpx, made an error, not a warning).
MAX_PIXELS = Image.MAX_IMAGE_PIXELS


def load_image(path: str | Path, min_side: int = MIN_SIDE) -> Image.Image:
    """Open an image file as RGB, upright (EXIF), with transparent pixels flattened onto white.

    Refuses, with a ValueError naming the fix: non-image or corrupt files, images with a side below `min_side`,
    and images above `MAX_PIXELS` (decompression-bomb guard: checked from the header, before decoding).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"image {path} does not exist; pass the path of a PNG or JPEG file")
    if not path.is_file():
        raise ValueError(f"image {path} is not a readable file; pass the path of a PNG or JPEG file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)  # reads the header only
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ValueError(
            f"image {path} is too large (decompression-bomb guard: more than {MAX_PIXELS:,} pixels); "
            f"downscale it to about 1024 px on the shorter side"
        ) from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"cannot read image {path} ({err}); pass a valid PNG or JPEG file") from None
    with im:
        _check_size(path, im.size, min_side)
        try:
            im.load()
            image = ImageOps.exif_transpose(im)
        except (OSError, SyntaxError, ValueError) as err:
            raise ValueError(f"cannot read image {path} ({err}); pass a valid PNG or JPEG file") from None
    return to_rgb(image)


def _check_size(path: Path, size: tuple[int, int], min_side: int) -> None:
    width, height = size
    if min(width, height) < min_side:
        raise ValueError(
            f"image {path} is {width}×{height} pixels; it needs at least {min_side} px on the shorter side "
            f"(1024 px is ideal): pass a larger image"
        )
    if width * height > MAX_PIXELS:
        raise ValueError(
            f"image {path} is too large ({width}×{height} pixels, more than {MAX_PIXELS:,}); "
            f"downscale it to about 1024 px on the shorter side"
        )


def image_tensor(image: Image.Image, resolution: int) -> torch.Tensor:
    """1×3×R×R tensor in [-1, 1]: shorter side resized to R (bilinear), then center-cropped to R×R."""
    from torchvision import transforms  # here, not at the top: preparing images needs no torch (fast workflow jobs)

    pipeline = transforms.Compose(
        [
            transforms.Resize(resolution, interpolation=transforms.InterpolationMode.BILINEAR),
            transforms.CenterCrop(resolution),
            transforms.ToTensor(),
            transforms.Normalize([0.5], [0.5]),
        ]
    )
    return pipeline(to_rgb(image)).unsqueeze(0)


def square_crop(image: Image.Image, resolution: int) -> tuple[Image.Image, dict]:
    """The training view of `image`: shorter side resized to `resolution` (PIL bilinear, as torchvision's Resize
    on a PIL image), then the centre `resolution`² square; also returns the crop box in the original's pixels.
    A portrait or landscape image keeps only its middle (e.g. half of a 1:2 image), exactly what training sees."""
    width, height = image.size
    scale = resolution / min(width, height)
    size = (max(resolution, round(width * scale)), max(resolution, round(height * scale)))
    resized = image.resize(size, Image.BILINEAR)
    left, top = (size[0] - resolution) // 2, (size[1] - resolution) // 2
    crop = resized.crop((left, top, left + resolution, top + resolution))
    box = [
        round(left / scale),
        round(top / scale),
        round((left + resolution) / scale),
        round((top + resolution) / scale),
    ]
    return crop, {"original_size": [width, height], "crop_box": box, "resolution": resolution}
