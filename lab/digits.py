"""A drawn or photographed digit -> a 28×28 image prepared the way MNIST's were.

    from_canvas(rgba)        # (H, W, 4) array from a drawing canvas -> (28, 28) uint8
    from_image_bytes(data)   # an uploaded PNG/JPEG/... file         -> (28, 28) uint8
    to_mnist(gray)           # (H, W) ink-on-anything grayscale      -> (28, 28) uint8

MNIST's recipe (LeCun et al.): white ink on black; the digit's bounding box scaled so its
longest side is 20 px (aspect ratio kept, anti-aliased); then placed in a 28×28 field so
that its centre of mass sits at the centre. A model trained on MNIST expects exactly this:
an off-centre or full-frame digit is classified much worse.
"""
from __future__ import annotations

import io

import numpy as np

from .errors import LabError

BOX, SIZE = 20, 28
MAX_UPLOAD_BYTES = 5 * 1024 * 1024   # a photo of a digit needs far less
MAX_PIXELS = 4096 * 4096             # width × height; refuses decompression bombs before decoding
INK_THRESHOLD = 0.1                  # fraction of full contrast below which a pixel is background


class ImageError(LabError):
    """An upload is not an image, is too big, or holds no digit."""


def from_canvas(rgba: np.ndarray) -> np.ndarray:
    """(H, W, 4) or (H, W, 3) canvas pixels (uint8, or float in 0..255) -> (28, 28) uint8.

    A canvas with a transparent background (alpha 0 where nothing is drawn) is read by its
    alpha channel, whatever the stroke colour; an opaque one by its brightness."""
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] not in (3, 4) or rgba.size == 0:
        raise ImageError(f"Expected canvas pixels of shape (height, width, 4), got {rgba.shape}.")
    _check_pixels(rgba.shape[1], rgba.shape[0])
    rgba = rgba.astype(np.float32)
    if rgba.shape[2] == 4 and rgba[..., 3].min() < 255:
        # Transparent background: the ink is where something was painted (alpha), any colour.
        if rgba[..., 3].max() == 0:
            raise ImageError("The canvas is empty: draw a digit first.")
        return to_mnist(rgba[..., 3])
    luminance = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # (H, W), 0..255
    return to_mnist(luminance)


def from_image_bytes(data: bytes, max_bytes: int = MAX_UPLOAD_BYTES) -> np.ndarray:
    """An uploaded image file -> (28, 28) uint8. Refuses non-images and huge files clearly."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > max_bytes:
        raise ImageError(f"The image file is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB. "
                         "A small photo or screenshot of one digit is enough.")
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only: the size is known before decoding
        _check_pixels(*image.size)
        image.load()
    except ImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as e:
        raise ImageError(f"This file is not an image the lab can read ({type(e).__name__}). "
                         "Upload a PNG or JPEG of one digit.") from None
    except (OSError, ValueError, SyntaxError) as e:  # truncated or malformed image data
        raise ImageError(f"This image file is damaged ({e}). Upload a PNG or JPEG of one digit.") from None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        return from_canvas(np.asarray(image.convert("RGBA")))
    return to_mnist(np.asarray(image.convert("L"), dtype=np.float32))


def _check_pixels(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageError(f"The image is {width}×{height} pixels; the limit is {MAX_PIXELS:,} pixels. "
                         "Shrink it or crop it to the digit.")


def to_mnist(gray: np.ndarray) -> np.ndarray:
    """(H, W) grayscale, either polarity -> (28, 28) uint8, white digit on black, MNIST-centred."""
    from PIL import Image

    gray = np.asarray(gray, dtype=np.float32)
    assert gray.ndim == 2, gray.shape
    # Background = the typical border pixel. Dark ink on light paper is inverted.
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    ink = background - gray if background > 127 else gray - background
    ink = np.clip(ink, 0, None)
    peak = float(ink.max())
    if peak < 255 * INK_THRESHOLD:
        raise ImageError("No digit found: the image is blank or has too little contrast. "
                         "Draw (or photograph) one dark digit on light paper, or a light one on dark.")
    ink = ink / peak
    ink[ink < INK_THRESHOLD] = 0  # paper texture and JPEG noise are not ink

    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]  # (h, w) bounding box
    h, w = crop.shape
    scale = BOX / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    resized = Image.fromarray((crop * 255).astype(np.uint8)).resize((new_w, new_h), Image.Resampling.LANCZOS)
    patch = np.asarray(resized, dtype=np.float32)  # (new_h, new_w), longest side 20

    # Place the patch so that its centre of mass lands on the field's centre (13.5, 13.5).
    total = patch.sum()
    com_y = (patch.sum(1) * np.arange(new_h)).sum() / total
    com_x = (patch.sum(0) * np.arange(new_w)).sum() / total
    top = int(np.clip(round((SIZE - 1) / 2 - com_y), 0, SIZE - new_h))
    left = int(np.clip(round((SIZE - 1) / 2 - com_x), 0, SIZE - new_w))
    field = np.zeros((SIZE, SIZE), dtype=np.float32)
    field[top:top + new_h, left:left + new_w] = patch
    return np.clip(field, 0, 255).round().astype(np.uint8)


def as_batch(digit: np.ndarray):
    """(28, 28) uint8 -> (1, 1, 28, 28) uint8 tensor, ready for lab.metrics.predict_logits."""
    import torch
    return torch.from_numpy(np.ascontiguousarray(digit)).view(1, 1, SIZE, SIZE)
