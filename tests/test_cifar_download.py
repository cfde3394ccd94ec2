"""CIFAR-10's download path, end to end against a loopback HTTP server (no internet): torchvision's
downloader fetches a small archive in the real layout (cifar-10-batches-py/ inside a .tar.gz),
checks its md5, draws a progress bar and unpacks it; the lab then reads the batches. A server that
answers 404, or an archive that is not the one promised, ends in a DataError that says what to do."""
import functools
import hashlib
import http.server
import tarfile
import re
import threading

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd

from conftest import write_cifar_folder
from lab import data
from lab.errors import DataError


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # the lab's reachability probe connects and hangs up: not an error worth a traceback


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www; yields (base URL, folder)."""
    root = tmp_path / "www"
    root.mkdir()
    httpd = _Server(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


def _archive(tmp_path, www):
    """The real layout: cifar-10-python.tar.gz holding cifar-10-batches-py/{data_batch_1..5, test_batch,
    batches.meta}. Returns (archive md5, the folder it was made from)."""
    folder = write_cifar_folder(tmp_path / "src" / "cifar-10-batches-py", n_per_batch=12, seed=3)
    archive = www / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    return hashlib.md5(archive.read_bytes()).hexdigest(), folder


@pytest.fixture
def online(tmp_path, monkeypatch):
    """A fresh data folder, the network allowed, no proxy between us and 127.0.0.1."""
    monkeypatch.delenv("LAB_OFFLINE", raising=False)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_download_fetches_checks_unpacks_and_reads(tmp_path, server, online, monkeypatch, capfd):
    base, www = server
    md5, source = _archive(tmp_path, www)
    monkeypatch.setattr(tvd.CIFAR10, "url", f"{base}/cifar-10-python.tar.gz")
    monkeypatch.setattr(tvd.CIFAR10, "tgz_md5", md5)

    ds = data.load("cifar10")

    assert ds.origin == "downloaded"
    assert (online / "cifar-10-batches-py" / "test_batch").is_file()
    assert not (online / "cifar-10-python.tar.gz").exists()  # the archive is removed once unpacked
    expected = data.read_cifar10(source)
    assert torch.equal(ds.train_images, expected[0]) and torch.equal(ds.train_labels, expected[1])
    assert torch.equal(ds.test_images, expected[2]) and torch.equal(ds.test_labels, expected[3])
    assert ds.train_images.shape == (60, 3, 32, 32) and ds.train_images.dtype == torch.uint8
    # torchvision's progress bar (tqdm, on stderr) ran to the archive's full size: "100%|███| 273k/273k"
    size = (tmp_path / "www" / "cifar-10-python.tar.gz").stat().st_size
    bar = re.search(r"100%\|[^|]*\| (\S+)/(\S+) ", capfd.readouterr().err)
    assert bar and bar[1] == bar[2] == f"{size / 1000:.0f}k"


def test_a_missing_file_on_the_server_is_a_clear_error(tmp_path, server, online, monkeypatch):
    base, _ = server  # serves nothing: 404
    monkeypatch.setattr(tvd.CIFAR10, "url", f"{base}/cifar-10-python.tar.gz")
    with pytest.raises(DataError) as info:
        data.load("cifar10")
    message = str(info.value)
    assert message.startswith("Downloading cifar10 failed") and "404" in message
    assert "LAB_DATA_DIR" in message and "mnist-sample" in message  # what to do instead


def test_an_archive_that_is_not_the_promised_one_is_refused(tmp_path, server, online, monkeypatch):
    base, www = server
    _archive(tmp_path, www)
    monkeypatch.setattr(tvd.CIFAR10, "url", f"{base}/cifar-10-python.tar.gz")
    monkeypatch.setattr(tvd.CIFAR10, "tgz_md5", "0" * 32)  # e.g. a proxy's error page, or a cut-off file
    with pytest.raises(DataError, match="Downloading cifar10 failed .*corrupted"):
        data.load("cifar10")
    assert not (online / "cifar-10-batches-py").exists()  # nothing unpacked from it


def test_no_server_at_all_fails_fast(online, monkeypatch):
    monkeypatch.setattr(tvd.CIFAR10, "url", "http://127.0.0.1:9/cifar-10-python.tar.gz")  # discard port: closed
    with pytest.raises(DataError, match="no network connection to its mirror"):
        data.load("cifar10")


def test_mean_and_std_are_exact_without_a_float_copy():
    """The per-channel statistics come from 256-bin histograms: equal to float64 arithmetic on the
    pixels (a reference computed here on a small batch), with the unbiased std."""
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (37, 3, 5, 7), dtype=np.uint8))
    mean, std = data.channel_mean_std(images, chunk=8)  # several chunks, the last one short
    pixels = images.double().div(255).permute(1, 0, 2, 3).reshape(3, -1)
    assert mean == pytest.approx(pixels.mean(1).tolist(), abs=1e-12)
    assert std == pytest.approx(pixels.std(1).tolist(), abs=1e-12)
