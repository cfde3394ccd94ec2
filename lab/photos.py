"""An uploaded photo -> a 32×32 colour image, the way CIFAR-10's photos look to a model.

    from_photo_bytes(data)   # a PNG/JPEG/WebP/... file -> (32, 32, 3) uint8 RGB
    as_batch(photo)          # -> (1, 3, 32, 32) uint8 tensor, ready for lab.metrics.predict_logits

CIFAR-10's images are small photos with the object filling most of the frame. A photo is turned
upright (its EXIF orientation), its transparent parts laid on white, its central square kept
(a model trained on squares must not see a squeezed object) and that square scaled down to
32×32 with an anti-aliasing filter. The file is decoded by PIL only: an upload is never
unpickled or executed, and its size in bytes and in pixels is checked before it is decoded.
"""
from __future__ import annotations

import io

import numpy as np

from .digits import MAX_PIXELS, MAX_UPLOAD_BYTES, ImageError

SIZE = 32


def from_photo_bytes(data: bytes, size: int = SIZE, max_bytes: int = MAX_UPLOAD_BYTES) -> np.ndarray:
    """An uploaded image file -> (size, size, 3) uint8 RGB: upright, central square, downscaled."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if len(data) > max_bytes:
        raise ImageError(f"The image file is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB. "
                         "A phone photo saved at a smaller size, or a screenshot, is enough.")
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only: the size is known before decoding
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise ImageError(f"The image is {width}×{height} pixels; the limit is {MAX_PIXELS:,} pixels. "
                             "Shrink it or crop it to the object.")
        image.load()
        image = ImageOps.exif_transpose(image)  # a phone's portrait photo stands upright
    except ImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as e:
        raise ImageError(f"This file is not an image the lab can read ({type(e).__name__}). "
                         "Upload a PNG or JPEG photo.") from None
    except (OSError, ValueError, SyntaxError) as e:  # truncated or malformed image data
        raise ImageError(f"This image file is damaged ({e}). Upload a PNG or JPEG photo.") from None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image.alpha_composite(rgba)
    image = image.convert("RGB")
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    return np.array(square.resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8)  # a writable copy


def as_batch(photo: np.ndarray):
    """(H, W, 3) uint8 -> (1, 3, H, W) uint8 tensor."""
    import torch
    return torch.from_numpy(np.ascontiguousarray(photo)).permute(2, 0, 1).unsqueeze(0).contiguous()
