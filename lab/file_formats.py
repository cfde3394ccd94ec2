"""The files datasets come in, read without running anything from them: IDX (MNIST, Fashion-MNIST)
and CIFAR-10's python batches (pickles, read by an unpickler that builds only plain arrays).

    read_idx(path)                   one IDX file -> a uint8 array
    read_idx_split(folder, prefix)   images (N, 1, H, W) uint8 and labels (N,) int64 of one split
    read_cifar10(folder, classes)    train and test images (N, 3, 32, 32) uint8, labels, class names
"""
from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import torch

from .errors import DataError


def read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError) as e:  # BadGzipFile is an OSError; a cut-off .gz raises EOFError
        raise DataError(f"{path} is truncated or corrupt ({e}). Delete it and download it again.") from None


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (the MNIST format: magic 0x0000 08 NDIM, big-endian dims, uint8 data)."""
    path = Path(path)
    raw = read_bytes(path)
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != 0x08 or not 1 <= raw[3] <= 4:
        raise DataError(f"{path} is not an IDX file of bytes. Delete it and download it again.")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path} is truncated (its header is cut off). Delete it and download it again.")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    body = raw[4 + 4 * ndim:]
    expected = int(np.prod(dims))
    if len(body) != expected:
        raise DataError(f"{path} is truncated: its header promises {expected:,} bytes of data but it holds "
                        f"{len(body):,}. Delete it and download it again.")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_idx_split(folder: Path, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    """`train` or `t10k` images and labels from an MNIST-style folder, raw or .gz."""
    folder = Path(folder)
    images_path = find_idx(folder, f"{prefix}-images-idx3-ubyte")
    labels_path = find_idx(folder, f"{prefix}-labels-idx1-ubyte")
    if images_path is None or labels_path is None:
        raise DataError(f"{folder} has no {prefix}-images-idx3-ubyte[.gz] and {prefix}-labels-idx1-ubyte[.gz]. "
                        "Point to the folder that holds the MNIST/Fashion-MNIST files.")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{images_path} ({images.shape}) and {labels_path} ({labels.shape}) do not match: "
                        "expected N×28×28 images and N labels. Delete them and download them again.")
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """CIFAR-10's batches are Python pickles. Only plain containers and numpy arrays may be
    rebuilt from them: any other global in the file is refused, so a booby-trapped file
    cannot run code."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"),
                ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
                ("_codecs", "encode")}  # how Python 3 pickles bytes at protocol 2: harmless

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _read_cifar_batch(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            batch = _ArraysOnlyUnpickler(f, encoding="latin1").load()
    except FileNotFoundError:
        raise DataError(f"{path} is missing. Delete the folder {path.parent} and download CIFAR-10 again.") from None
    except Exception as e:  # any parse failure of a data file is the same advice
        raise DataError(f"{path} is truncated or corrupt ({type(e).__name__}: {e}). "
                        f"Delete the folder {path.parent} and download CIFAR-10 again.") from None
    if not isinstance(batch, dict):
        raise DataError(f"{path} is not a CIFAR-10 batch. Delete the folder {path.parent} and download again.")
    return batch


class _Rows:
    """Batches of rows copied into one tensor sized from the first batch (the official files hold
    10,000 images each): the dataset is never held twice, as a list and its concatenation."""

    def __init__(self, files: int):
        self.files, self.out, self.filled = files, None, 0

    def append(self, rows: torch.Tensor):
        if self.out is None:
            self.out = torch.empty((len(rows) * self.files, *rows.shape[1:]), dtype=rows.dtype)
        if self.filled + len(rows) > len(self.out):  # unequal files (not the official ones): grow
            self.out = torch.cat([self.out[:self.filled], torch.empty_like(rows)])
        self.out[self.filled:self.filled + len(rows)] = rows
        self.filled += len(rows)

    def result(self) -> torch.Tensor:
        if self.out is None:
            return torch.empty((0, 3, 32, 32), dtype=torch.uint8)
        return self.out if self.filled == len(self.out) else self.out[:self.filled].clone()


def read_cifar10(folder: Path, default_classes: tuple[str, ...] = ()) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """The python version of CIFAR-10 (`cifar-10-batches-py`): data_batch_1..5, test_batch, batches.meta."""
    folder = Path(folder)

    def split(names):
        images, labels = _Rows(len(names)), []
        for name in names:
            batch = _read_cifar_batch(folder / name)
            data, batch_labels = batch.get("data"), batch.get("labels")
            if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072 \
                    or batch_labels is None or len(batch_labels) != len(data):
                raise DataError(f"{folder / name} does not hold N×3072 images and N labels. "
                                f"Delete the folder {folder} and download CIFAR-10 again.")
            images.append(torch.from_numpy(data.astype(np.uint8, copy=False)).view(-1, 3, 32, 32))
            labels.append(torch.from_numpy(np.asarray(batch_labels, dtype=np.int64)))
            del batch, data  # one file's pixels at a time besides the result
        return images.result(), torch.cat(labels)

    train_images, train_labels = split([f"data_batch_{i}" for i in range(1, 6)])
    test_images, test_labels = split(["test_batch"])
    meta = folder / "batches.meta"
    classes = tuple(_read_cifar_batch(meta).get("label_names", default_classes)) if meta.exists() else default_classes
    return train_images, train_labels, test_images, test_labels, classes
