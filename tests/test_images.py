"""Input images: EXIF orientation, transparency onto white, odd modes, resize and center crop."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from plumbing.images import to_rgb
from unziplora.images import image_tensor, load_image


def test_transparent_pixels_become_white(tmp_path):
    im = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    im.putpixel((1, 1), (255, 0, 0, 255))
    im.save(tmp_path / "a.png")
    rgb = load_image(tmp_path / "a.png", min_side=1)
    assert rgb.mode == "RGB" and rgb.getpixel((0, 0)) == (255, 255, 255) and rgb.getpixel((1, 1)) == (255, 0, 0)


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "LA", "I;16", "1"])
def test_every_common_mode_converts_to_rgb(mode):
    im = Image.new("RGB", (6, 4), (120, 120, 120)).convert(mode)
    out = to_rgb(im)
    assert out.mode == "RGB" and out.size == (6, 4)


def test_sixteen_bit_gray_keeps_its_brightness():
    im = Image.new("I;16", (2, 2), 65535)
    assert to_rgb(im).getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path):
    im = Image.new("RGB", (10, 4), (0, 0, 255))
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90° on display
    im.save(tmp_path / "r.jpg", exif=exif)
    assert load_image(tmp_path / "r.jpg", min_side=1).size == (4, 10)


def test_portrait_image_is_center_cropped_to_a_square():
    im = Image.new("RGB", (20, 40), (0, 0, 0))
    im.paste((255, 255, 255), (0, 15, 20, 25))  # a white band in the middle
    t = image_tensor(im, 16)
    assert t.shape == (1, 3, 16, 16) and t.min() >= -1 and t.max() <= 1
    assert torch.isclose(t[0, :, 8, 8], torch.ones(3)).all()  # the middle survived the crop
    assert torch.isclose(t[0, :, 0, 0], -torch.ones(3)).all()


def test_missing_and_corrupt_files_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image(tmp_path / "none.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot read image"):
        load_image(tmp_path / "bad.png")
