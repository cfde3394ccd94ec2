"""Shared fixtures. Tests never touch the network: LAB_OFFLINE makes a download fail at once,
and LAB_DATA_DIR points at a fresh temporary folder per test session."""
import gzip
import os
import pickle
import struct
import tempfile

import numpy as np
import pytest
import torch

os.environ.setdefault("LAB_OFFLINE", "1")
# Hermetic from the start, for module-scoped fixtures too (servers the tests start): nothing a test
# trains may land in, or be found in, the user's own data folder (teacher cache, run history).
os.environ["LAB_DATA_DIR"] = tempfile.mkdtemp(prefix="lab-tests-")
# AppTests train in this process's threads (monkeypatched training functions reach them); a test
# that wants the server's default, worker processes, sets LAB_BACKEND=processes (test_app_workers.py).
# Real servers the tests start (tests/load/server.py) run the default.
os.environ.setdefault("LAB_BACKEND", "threads")
torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path_factory.getbasetemp() / "lab-data"))


def write_idx(path, array: np.ndarray, compress: bool):
    """Write an array in the real IDX format (the MNIST files' format)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def write_mnist_folder(folder, n_train=200, n_test=100, compress=True, seed=0):
    """A tiny but well-formed MNIST folder: class k images are a bright k-dependent bar."""
    rng = np.random.default_rng(seed)
    suffix = ".gz" if compress else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 40, (n, 28, 28))
        for i, k in enumerate(labels):
            images[i, 2 + 2 * k:4 + 2 * k, 4:24] = 250
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels, compress)
    return folder


def write_cifar_folder(folder, n_per_batch=20, seed=0):
    """CIFAR-10's python format: pickled dicts with a uint8 (N, 3072) array and a label list."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        labels = [int(x) for x in rng.integers(0, 10, n_per_batch)]
        data = rng.integers(0, 256, (n_per_batch, 3072)).astype(np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "labels": labels, "data": data,
                         "filenames": [f"img{i}.png" for i in range(n_per_batch)]}, f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                     "horse", "ship", "truck"], "num_vis": 3072}, f, protocol=2)
    return folder


@pytest.fixture(scope="session")
def sample():
    from lab.data import load
    return load("mnist-sample")


@pytest.fixture(scope="session")
def trained_teacher(sample, tmp_path_factory):
    """A teacher trained once per test session (short schedule) and saved as a checkpoint."""
    from dataclasses import replace
    from lab.recipes import TEACHER_CONFIG, save_result, train_teacher
    from lab.train import run_to_end
    config = replace(TEACHER_CONFIG, epochs=3, device="cpu")
    result = run_to_end(train_teacher(sample, config=config))
    folder = tmp_path_factory.mktemp("teacher")
    save_result(folder, result, sample, config, role="teacher")
    return result.model, folder


@pytest.fixture(scope="session")
def local_ray():
    """A local Ray (2 CPUs, no dashboard) shared by the Ray tests of this session; skipped without ray."""
    ray = pytest.importorskip("ray")
    from lab.serve import ray_runner
    os.environ.setdefault("LAB_THREADS", "1")  # each worker trains on one thread: two jobs fit two cores
    resources = ray_runner.connect("local", num_cpus=2)
    yield resources
    ray.shutdown()
