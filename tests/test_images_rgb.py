"""lab.figures' pictures of colour images (CIFAR-10): RGB kept pixel for pixel (digits alone are
inverted to dark ink on white), channels in order, the grid and the changed-images grid on (N, 3, 32, 32)."""
import base64
import io

import numpy as np
import torch
from PIL import Image

from lab import figures


def _png(fig) -> np.ndarray:
    source = fig.data[0].source
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))))


def _colour_images(n: int) -> torch.Tensor:
    """(n, 3, 32, 32) uint8: image i is pure red, green or blue by i % 3, with brightness 10 · i + 5."""
    images = torch.zeros(n, 3, 32, 32, dtype=torch.uint8)
    for i in range(n):
        images[i, i % 3] = 10 * i + 5
    return images


def test_mosaic_keeps_colour_pixels_and_inverts_only_grey_digits():
    images = _colour_images(4)
    picture = figures.mosaic(images, columns=2, pad=2)
    assert picture.shape == (2 * 34 + 2, 2 * 34 + 2, 3) and picture.dtype == np.uint8
    for i in range(4):
        r, c = divmod(i, 2)
        cell = picture[2 + r * 34: 2 + r * 34 + 32, 2 + c * 34: 2 + c * 34 + 32]
        expected = np.zeros(3, dtype=np.uint8)
        expected[i % 3] = 10 * i + 5
        assert (cell == expected).all(), i  # red stays red: no inversion, channel order kept
    grey = torch.full((1, 1, 28, 28), 200, dtype=torch.uint8)
    assert (figures.mosaic(grey, 1, pad=0) == 55).all()  # digits: 255 - 200, ink on paper


def test_image_grid_of_colour_images_one_row_per_class_and_blank_cells_white():
    images = _colour_images(6)
    labels = torch.tensor([0, 0, 0, 1, 1, 2])  # 3, 2 and 1 images of the three classes
    fig = figures.image_grid(images, labels, ("cat", "dog", "truck"), per_class=3, seed=0)
    picture = _png(fig)
    scale = 2
    assert picture.shape == ((3 * 34 + 2) * scale, (3 * 34 + 2) * scale, 3)
    assert list(fig.layout.yaxis.ticktext) == ["cat", "dog  (2)", "truck  (1)"]

    def cell(row, col):
        return picture[(2 + row * 34) * scale:(2 + row * 34 + 32) * scale, (2 + col * 34) * scale:(2 + col * 34 + 32) * scale]

    assert {tuple(cell(0, c)[0, 0]) for c in range(3)} == {(5, 0, 0), (0, 15, 0), (0, 0, 25)}  # images 0, 1, 2
    assert (cell(1, 2) == 255).all() and (cell(2, 1) == 255).all() and (cell(2, 2) == 255).all()  # missing: white
    assert tuple(cell(2, 0)[0, 0]) == (0, 0, 55)  # image 5, blue


def test_changed_grid_shows_the_chosen_colour_images_in_order():
    images = _colour_images(5)
    fig = figures.changed_grid(images, [4, 2], [0.9, 0.7], columns=10)
    picture = _png(fig)
    assert picture.shape == ((34 + 2) * 2, (2 * 34 + 2) * 2, 3)
    first, second = picture[4:68, 4:68], picture[4:68, 72:136]
    assert (first == (0, 45, 0)).all() and (second == (0, 0, 25)).all()  # image 4 green, then image 2 blue
    assert list(fig.data[1].customdata[0]) == [4, 0.9]
