"""lab.photos: an uploaded photo becomes the 32×32 RGB uint8 image a CIFAR-10 model reads
(central square, downscaled, upright, transparency on white); non-images and huge files are refused."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from lab.digits import MAX_PIXELS, ImageError
from lab.photos import as_batch, from_photo_bytes

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def _encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _bands(width: int, height: int, side: int) -> Image.Image:
    """Red margins of `side` pixels left and right (or top and bottom), green in between."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:] = GREEN
    if width > height:
        pixels[:, :side], pixels[:, width - side:] = RED, RED
    else:
        pixels[:side], pixels[height - side:] = RED, RED
    return Image.fromarray(pixels)


@pytest.mark.parametrize("width,height", [(96, 64), (64, 96)])
def test_the_central_square_is_kept_and_scaled_to_32(width, height):
    photo = from_photo_bytes(_encode(_bands(width, height, 16)))  # a 64×64 green square between red margins
    assert photo.shape == (32, 32, 3) and photo.dtype == np.uint8
    assert (photo == GREEN).all()  # nothing of the margins, nothing squeezed


def test_downscaling_averages_like_a_camera_not_like_nearest_pixel():
    pixels = np.zeros((64, 64, 3), np.uint8)
    pixels[::2] = BLUE  # alternate rows blue and black: a fine stripe pattern
    photo = from_photo_bytes(_encode(Image.fromarray(pixels)))
    assert abs(photo[8:24, 8:24, 2].astype(float).mean() - 127.5) < 3  # the stripes blend to mid blue
    assert (photo[..., :2] == 0).all()


def test_a_jpeg_and_a_transparent_png_read_in_rgb():
    jpeg = from_photo_bytes(_encode(Image.new("RGB", (50, 50), BLUE), "JPEG", quality=95))
    assert np.abs(jpeg.astype(int) - BLUE).max() <= 3
    clear = Image.new("RGBA", (40, 40), (255, 0, 0, 0))  # fully transparent red: white paper shows through
    assert (from_photo_bytes(_encode(clear)) == 255).all()
    grey = from_photo_bytes(_encode(Image.new("L", (40, 40), 90)))
    assert (grey == 90).all()


def test_a_phones_rotation_tag_stands_the_photo_upright():
    pixels = np.zeros((64, 64, 3), np.uint8)
    pixels[:32], pixels[32:] = RED, GREEN  # upright: red sky above green grass
    stored = Image.fromarray(pixels).rotate(90)  # as the camera stored it: turned a quarter to the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    upright = from_photo_bytes(_encode(stored, "PNG", exif=exif))
    assert (upright[:12] == RED).all() and (upright[20:] == GREEN).all()  # (the filter blends the border rows)
    on_its_side = from_photo_bytes(_encode(stored, "PNG"))  # the same pixels without the tag
    assert (on_its_side[:, :12] == RED).all() and (on_its_side[:, 20:] == GREEN).all()


def test_as_batch_is_the_datasets_layout():
    photo = from_photo_bytes(_encode(Image.new("RGB", (32, 32), RED)))
    batch = as_batch(photo)
    assert batch.shape == (1, 3, 32, 32) and batch.dtype == torch.uint8
    assert batch[0, 0].eq(255).all() and batch[0, 1:].eq(0).all()


@pytest.mark.parametrize("data,message", [
    (b"\x80\x04\x95 a pickle is never loaded", "not an image"),
    (b"%PDF-1.4 not an image", "not an image"),
    (_encode(Image.new("RGB", (64, 64), RED))[:60], "damaged"),
    (bytes(6 * 1024 * 1024), "the limit is 5 MB"),
])
def test_non_images_and_huge_files_are_refused(data, message):
    with pytest.raises(ImageError, match=message):
        from_photo_bytes(data)


def test_a_huge_picture_is_refused_before_it_is_decoded():
    side = int(MAX_PIXELS ** 0.5) + 1
    data = _encode(Image.new("1", (side, side)))  # a small file of a huge image
    assert len(data) < 1_000_000
    with pytest.raises(ImageError, match="pixels; the limit is"):
        from_photo_bytes(data)
