import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from lab.digits import MAX_PIXELS, ImageError, as_batch, from_canvas, from_image_bytes, to_mnist

# Synthetic digits drawn as strokes on a 280×280 canvas (x, y coordinates).
STROKES = {
    0: [("ellipse", (80, 40, 200, 240))],
    1: [("line", [(150, 40), (140, 240)])],
    2: [("line", [(70, 80), (110, 45), (170, 45), (200, 90), (180, 140), (70, 235), (220, 235)])],
    3: [("line", [(70, 50), (200, 50), (130, 130), (200, 170), (190, 220), (130, 240), (70, 225)])],
    4: [("line", [(170, 240), (170, 40), (60, 170), (220, 170)])],
    5: [("line", [(200, 45), (90, 45), (80, 125), (170, 120), (200, 175), (170, 235), (70, 230)])],
    6: [("line", [(180, 40), (100, 120), (80, 190)]), ("ellipse", (80, 130, 200, 240))],
    7: [("line", [(70, 50), (210, 50), (120, 240)])],
    8: [("ellipse", (95, 40, 185, 130)), ("ellipse", (85, 130, 195, 240))],
    9: [("ellipse", (80, 40, 200, 140)), ("line", [(195, 100), (180, 240)])],
}


def draw(strokes, size=280, ink=255, paper=0, offset=(0, 0), scale=1.0, width=22) -> np.ndarray:
    """(size, size) uint8 drawing of strokes, optionally moved and scaled."""
    image = Image.new("L", (size, size), paper)
    pen = ImageDraw.Draw(image)
    move = lambda x, y: (x * scale + offset[0], y * scale + offset[1])  # noqa: E731
    for kind, xy in strokes:
        if kind == "line":
            pen.line([move(*p) for p in xy], fill=ink, width=width, joint="curve")
        else:
            (x0, y0), (x1, y1) = move(*xy[:2]), move(*xy[2:])
            pen.ellipse((x0, y0, x1, y1), outline=ink, width=width)
    return np.asarray(image)


def opaque_canvas(gray: np.ndarray) -> np.ndarray:
    return np.stack([gray] * 3 + [np.full_like(gray, 255)], -1)  # (H, W, 4) RGBA


def centre_of_mass(digit: np.ndarray) -> tuple[float, float]:
    weights = digit.astype(np.float64)
    ys, xs = np.mgrid[:28, :28]
    return (ys * weights).sum() / weights.sum(), (xs * weights).sum() / weights.sum()


def bounding_box(digit: np.ndarray) -> tuple[int, int]:
    rows, cols = np.flatnonzero(digit.any(1)), np.flatnonzero(digit.any(0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


@pytest.mark.parametrize("offset,scale", [((0, 0), 1.0), ((-60, -30), 0.5), ((400, 700), 3.0)])
def test_a_digit_anywhere_at_any_size_is_boxed_to_20px_and_centred(offset, scale):
    size = 280 if scale <= 1 else 1400
    digit = from_canvas(opaque_canvas(draw(STROKES[7], size=size, offset=offset, scale=scale, width=int(22 * scale))))
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    assert max(bounding_box(digit)) in (19, 20)  # longest side scaled to 20 px (anti-aliasing may fade an edge)
    cy, cx = centre_of_mass(digit)
    assert abs(cy - 13.5) <= 0.75 and abs(cx - 13.5) <= 0.75
    assert digit.max() >= 250 and digit[0].max() == 0 and digit[:, 0].max() == 0  # black border, white ink


def test_a_thin_one_keeps_its_aspect_ratio():
    digit = from_canvas(opaque_canvas(draw(STROKES[1], width=10)))
    height, width = bounding_box(digit)
    assert height in (19, 20) and width <= 4


def test_dark_ink_on_white_paper_is_inverted():
    light_on_dark = from_canvas(opaque_canvas(draw(STROKES[3])))
    dark_on_light = from_canvas(opaque_canvas(draw(STROKES[3], ink=20, paper=235)))
    assert np.abs(light_on_dark.astype(int) - dark_on_light.astype(int)).max() <= 2


def test_a_transparent_canvas_is_read_by_its_alpha_whatever_the_colour():
    stroke = draw(STROKES[4])
    rgba = np.zeros((280, 280, 4), dtype=np.uint8)
    rgba[..., 2] = 200          # a blue pen
    rgba[..., 3] = stroke       # painted where the stroke is, transparent elsewhere
    np.testing.assert_array_equal(from_canvas(rgba), from_canvas(opaque_canvas(stroke)))
    assert np.array_equal(from_canvas(rgba.astype(np.float64)), from_canvas(rgba))  # canvases may give floats


def _encode(gray: np.ndarray, fmt: str, mode="L") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(gray).convert(mode).save(buffer, format=fmt)
    return buffer.getvalue()


def test_uploaded_png_and_jpeg_give_the_canvas_result():
    paper = draw(STROKES[5], ink=30, paper=240)
    expected = from_canvas(opaque_canvas(paper))
    np.testing.assert_array_equal(from_image_bytes(_encode(paper, "PNG")), expected)
    np.testing.assert_array_equal(from_image_bytes(_encode(paper, "PNG", mode="RGB")), expected)
    jpeg = from_image_bytes(_encode(paper, "JPEG"))  # lossy: close, not equal
    assert np.abs(jpeg.astype(int) - expected.astype(int)).mean() < 8


@pytest.mark.parametrize("data,message", [
    (b"def f():\n    return 42\n" * 10, "not an image"),
    (b"%PDF-1.4 not an image", "not an image"),
    (_encode(draw(STROKES[0]), "PNG")[:300], "damaged"),
    (bytes(6 * 1024 * 1024), "the limit is 5 MB"),
])
def test_non_images_and_huge_files_are_refused(data, message):
    with pytest.raises(ImageError, match=message):
        from_image_bytes(data)


def test_a_huge_picture_is_refused_before_it_is_decoded():
    side = int(MAX_PIXELS ** 0.5) + 1
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, format="PNG")  # a small file of a huge image
    assert len(buffer.getvalue()) < 1_000_000
    with pytest.raises(ImageError, match="pixels; the limit is"):
        from_image_bytes(buffer.getvalue())
    with pytest.raises(ImageError, match="pixels; the limit is"):
        from_canvas(np.zeros((side, side, 4), dtype=np.uint8))


@pytest.mark.parametrize("canvas", [np.zeros((200, 200, 4), np.uint8), opaque_canvas(np.full((50, 50), 255, np.uint8))])
def test_an_empty_canvas_says_so(canvas):
    with pytest.raises(ImageError, match="empty|No digit found"):
        from_canvas(canvas)
    with pytest.raises(ImageError, match="shape"):
        from_canvas(np.zeros((28, 28)))


def test_the_trained_teacher_reads_clean_synthetic_digits(trained_teacher, sample):
    from lab.metrics import predict_logits
    model, _ = trained_teacher
    model = model.cpu()
    digits = torch.cat([as_batch(from_canvas(opaque_canvas(draw(strokes)))) for strokes in STROKES.values()])
    predicted = predict_logits(model, digits, sample.mean, sample.std).argmax(1).tolist()
    correct = sum(p == k for p, k in zip(predicted, STROKES))
    assert correct >= 9, predicted
    # The same drawings without the MNIST recipe (the whole canvas shrunk to 28×28) are read worse:
    naive = torch.cat([torch.from_numpy(np.array(Image.fromarray(draw(STROKES[k], offset=(-50, -40), scale=0.6))
                                                   .resize((28, 28), Image.Resampling.BILINEAR))).view(1, 1, 28, 28)
                       for k in STROKES])
    naive_correct = sum(p == k for p, k in zip(predict_logits(model, naive, sample.mean, sample.std).argmax(1).tolist(),
                                               STROKES))
    assert naive_correct < correct
    assert to_mnist(draw(STROKES[8]).astype(np.float32)).shape == (28, 28)
