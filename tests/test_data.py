import pickle
import time

import numpy as np
import pytest
import torch

from conftest import write_cifar_folder, write_idx, write_mnist_folder
from lab import data
from lab.errors import DataError


def test_mnist_sample_is_the_fixed_stratified_split(sample):
    assert sample.train_images.shape == (4000, 1, 28, 28) and sample.train_images.dtype == torch.uint8
    assert sample.test_images.shape == (1000, 1, 28, 28)
    assert sample.train_labels.bincount().tolist() == [400] * 10
    assert sample.test_labels.bincount().tolist() == [100] * 10
    assert sample.origin == "offline sample" and sample.classes == data.DIGITS
    # Real digits: mostly black background, bright strokes; MNIST's mean is about 0.13.
    assert 0.10 < sample.mean[0] < 0.16 and 0.28 < sample.std[0] < 0.34
    # Train and test do not overlap (no image appears in both).
    train = {bytes(x) for x in sample.train_images.flatten(1).numpy()}
    assert not any(bytes(x) in train for x in sample.test_images.flatten(1).numpy())
    # The split is fixed: loading again (cache bypassed) gives the same first test label sequence.
    again = data._load_mnist_sample()
    assert torch.equal(again.test_labels, sample.test_labels)


@pytest.mark.parametrize("compress", [True, False])
def test_idx_folder_in_data_dir_is_found_and_read(tmp_path, monkeypatch, compress):
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path))
    write_mnist_folder(tmp_path / "mnist", compress=compress)
    ds = data.load("mnist")
    assert ds.origin == "data folder" and str(tmp_path / "mnist") in ds.source
    assert ds.train_images.shape == (200, 1, 28, 28) and ds.test_images.shape == (100, 1, 28, 28)
    assert ds.train_labels[:12].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert int(ds.train_images[3, 0, 8, 10]) == 250  # the bar of class 3 sits at rows 8-9


def test_torchvision_layout_for_fashion(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path))
    write_mnist_folder(tmp_path / "FashionMNIST" / "raw")
    ds = data.load("fashion-mnist")
    assert ds.classes[0] == "T-shirt/top" and ds.origin == "data folder"


def test_truncated_idx_names_the_file_and_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path))
    folder = write_mnist_folder(tmp_path / "mnist", compress=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match="train-images-idx3-ubyte is truncated.*Delete it"):
        data.load("mnist")


def test_cut_off_gzip_is_reported_not_crashed(tmp_path):
    path = write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((50, 28, 28)), compress=True)
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz is truncated or corrupt"):
        data.read_idx(path)


def test_a_file_that_is_not_idx_is_refused(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(DataError, match="not an IDX file"):
        data.read_idx(path)


def test_cifar10_python_batches_are_read(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path))
    folder = write_cifar_folder(tmp_path / "cifar-10-batches-py", n_per_batch=20)
    ds = data.load("cifar10")
    assert ds.train_images.shape == (100, 3, 32, 32) and ds.test_images.shape == (20, 3, 32, 32)
    assert ds.classes[3] == "cat" and ds.augmentation == "flip-translate"
    # The channel-major row layout of CIFAR: the first 1024 values are the red plane.
    with open(folder / "data_batch_1", "rb") as f:
        raw = pickle.load(f)  # our own test file
    assert torch.equal(ds.train_images[0, 0].flatten(), torch.from_numpy(raw["data"][0, :1024]))
    assert ds.train_labels[:20].tolist() == raw["labels"]


def test_cifar_pickle_with_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path))
    folder = write_cifar_folder(tmp_path / "cifar-10-batches-py", n_per_batch=4)

    class Evil:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pwned')",))
    with open(folder / "data_batch_2", "wb") as f:
        pickle.dump({"data": Evil(), "labels": [0]}, f)
    with pytest.raises(DataError, match="data_batch_2 is truncated or corrupt.*refusing"):
        data.load("cifar10")


def test_no_network_gives_up_fast_and_names_the_sample(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LAB_OFFLINE", raising=False)  # really try: this machine has no route out
    start = time.perf_counter()
    with pytest.raises(DataError, match="mnist-sample"):
        data.load("mnist")
    assert time.perf_counter() - start < 30  # the real limit is ~8 s; wide margin for a busy CI


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(DataError, match="Choose one of"):
        data.load("imagenet")


def test_batches_cover_every_example_once_per_epoch():
    g = torch.Generator().manual_seed(0)
    seen = torch.cat(list(data.batch_indices(100, 32, g, drop_last=False)))
    assert sorted(seen.tolist()) == list(range(100))
    assert [len(b) for b in data.batch_indices(100, 32, g)] == [32, 32, 32]


def test_translate_moves_pixels_and_keeps_uint8():
    images = torch.zeros(64, 1, 28, 28, dtype=torch.uint8)
    images[:, :, 14, 14] = 255
    out = data.augment(images, "shift", torch.Generator().manual_seed(0))
    assert out.dtype == torch.uint8 and out.shape == images.shape
    ys, xs = (out[:, 0] == 255).nonzero()[:, 1], (out[:, 0] == 255).nonzero()[:, 2]
    assert len(ys) == 64  # one bright pixel per image survives
    assert ys.min() >= 12 and ys.max() <= 16 and xs.min() >= 12 and xs.max() <= 16
    assert len(set(zip(ys.tolist(), xs.tolist()))) > 5  # different shifts per image


def test_crop_flip_mirrors_some_images():
    images = torch.zeros(200, 3, 32, 32, dtype=torch.uint8)
    images[:, :, :, :4] = 255  # a bright left edge
    out = data.augment(images, "crop-flip", torch.Generator().manual_seed(1))
    mirrored = (out[:, 0, :, 16:].float().sum((1, 2)) > out[:, 0, :, :16].float().sum((1, 2)))
    assert 0.3 < mirrored.float().mean().item() < 0.7


def test_normalize_matches_mean_std():
    x = torch.tensor([[[[0, 255]]]], dtype=torch.uint8)
    out = data.normalize(x, (0.5,), (0.25,))
    assert torch.allclose(out.flatten(), torch.tensor([-2.0, 2.0]))


def test_reflect_translate_equals_cropping_a_reflect_padded_image():
    """airbench's translate: pad by mirroring (no black bars), crop at a random offset. The one-gather
    version equals the textbook one (torch's reflect pad, then a crop) for the same draws."""
    images = torch.randint(0, 256, (50, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    out = data.random_translate(images, 2, torch.Generator().manual_seed(7), fill="reflect")
    shifts = torch.randint(-2, 3, (2, 50), generator=torch.Generator().manual_seed(7))  # the same draws
    padded = torch.nn.functional.pad(images.float(), (2, 2, 2, 2), mode="reflect")
    reference = torch.stack([padded[i, :, 2 + dy:34 + dy, 2 + dx:34 + dx]
                             for i, (dy, dx) in enumerate(shifts.T.tolist())]).to(torch.uint8)
    assert torch.equal(out, reference)


def test_alternating_flip_shows_every_image_both_ways_over_two_epochs():
    """flip-translate with the batch's dataset indices (Jordan 2024): a fixed half of the images is
    mirrored in even epochs, the other half in odd ones."""
    index = torch.arange(1000)
    images = torch.zeros(1000, 1, 16, 16, dtype=torch.uint8)
    images[:, :, :, :4] = 255  # a bright left edge (a 2-px shift keeps it in the left half)
    mirrored = []
    for epoch in (0, 1, 2):
        out = data.augment(images, "flip-translate", torch.Generator().manual_seed(epoch), index, epoch).float()
        mirrored.append(out[:, 0, :, 8:].sum((1, 2)) > out[:, 0, :, :8].sum((1, 2)))
    assert torch.equal(mirrored[0], ~mirrored[1]) and torch.equal(mirrored[0], mirrored[2])
    assert 0.45 < mirrored[0].float().mean().item() < 0.55
