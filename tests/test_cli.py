"""The command line as a user runs it: real subprocesses, real files, offline."""
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import write_mnist_folder

ROOT = Path(__file__).resolve().parents[1]


def lab(*args, env=None, timeout=600):
    full_env = {**os.environ, "LAB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "lab", *map(str, args)], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def cli_teacher(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "teacher"
    run = lab("teacher", "--dataset", "mnist-sample", "--epochs", "2", "--device", "cpu", "--out", out)
    assert run.returncode == 0, run.stderr
    return out, json.loads(run.stdout)


def test_teacher_writes_checkpoint_and_card(cli_teacher):
    out, printed = cli_teacher
    card = json.loads((out / "model.json").read_text())
    for key in ("test_accuracy", "params", "bytes", "seconds"):
        assert card["metrics"][key] == printed[key]
    assert card["metrics"]["test_accuracy"] > 0.9  # 2 epochs of the default teacher
    assert card["metrics"]["bytes"] == (out / "model.safetensors").stat().st_size


def test_distill_writes_both_students_and_summary(cli_teacher, tmp_path):
    teacher, _ = cli_teacher
    run = lab("distill", "--teacher", teacher, "--epochs", "2", "--device", "cpu", "--out", tmp_path / "s")
    assert run.returncode == 0, run.stderr
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    for who in ("teacher", "hard", "distilled"):
        for key in ("test_accuracy", "params", "bytes", "recorded_latency_ms"):
            assert isinstance(summary[who][key], (int, float)), (who, key)
        # a card's latency was taken when the card was made: never under the live measurement's name
        assert "latency_ms" not in summary[who], who
    teacher_card = json.loads((teacher / "model.json").read_text())
    assert summary["teacher"]["recorded_latency_ms"] == teacher_card["metrics"]["latency_ms"]
    assert summary["hard"]["params"] == summary["distilled"]["params"] < summary["teacher"]["params"] / 10
    for who in ("hard", "distilled"):
        assert (tmp_path / "s" / who / "model.safetensors").is_file()
        assert json.loads((tmp_path / "s" / who / "model.json").read_text())["role"] == who
    assert "hard" in run.stderr and "distilled" in run.stderr  # one progress bar per student
    # The paired difference, counted here from the saved students' own predictions on the test split.
    from lab import checkpoints
    from lab.data import load
    from lab.metrics import predict_logits
    data = load("mnist-sample")
    right = {}
    for who in ("hard", "distilled"):
        model, card = checkpoints.load(tmp_path / "s" / who)
        right[who] = predict_logits(model, data.test_images, card["mean"], card["std"]).argmax(-1) == data.test_labels
    gain = summary["distilled_vs_hard"]
    assert gain["only_hard_right"] == int((right["hard"] & ~right["distilled"]).sum())
    assert gain["only_distilled_right"] == int((right["distilled"] & ~right["hard"]).sum())
    assert gain["n"] == 1000 and gain["difference"] == pytest.approx(
        summary["distilled"]["test_accuracy"] - summary["hard"]["test_accuracy"], abs=1e-9)
    assert gain["low"] <= gain["difference"] <= gain["high"] and gain["within_noise"] == (gain["low"] <= 0 <= gain["high"])
    assert gain["words"].endswith("within noise" if gain["within_noise"] else "beyond noise")
    speed = summary["speed"]  # one live measurement of all three models, not the cards' latencies
    assert set(speed["latency_ms"]) == {"teacher", "hard", "distilled"} == set(speed["throughput"])
    assert speed["distilled_speedup"] == pytest.approx(speed["latency_ms"]["teacher"] / speed["latency_ms"]["distilled"])
    assert summary["verdict"] in run.stderr


def test_evaluate_on_dataset_and_on_idx_folder(cli_teacher, tmp_path):
    teacher, printed = cli_teacher
    run = lab("evaluate", "--model", teacher, "--dataset", "mnist-sample")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["n"] == 1000 and result["accuracy"] == pytest.approx(printed["test_accuracy"], abs=1e-9)
    folder = write_mnist_folder(tmp_path / "idx", n_test=50, compress=False)
    run = lab("evaluate", "--model", teacher, "--idx-dir", folder)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["n"] == 50


def test_evaluate_refuses_a_model_made_for_another_dataset(cli_teacher, tmp_path):
    """The README's `evaluate --idx-dir …/fashion-mnist` scored the digit teacher on clothes: only the
    image shape was checked. Now a dataset with other classes, or a folder of another kind of image
    (mean brightness: MNIST 0.13, Fashion-MNIST 0.29), is refused in one line that says what to do."""
    import numpy as np

    from conftest import write_idx
    teacher, _ = cli_teacher
    clothes = tmp_path / "data" / "fashion-mnist"  # Fashion-MNIST's brightness, its own folder layout
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 200), ("t10k", 100)):
        write_idx(clothes / f"{prefix}-images-idx3-ubyte", rng.integers(0, 150, (n, 28, 28)), compress=False)
        write_idx(clothes / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10, compress=False)
    line = _one_clear_line(lab("evaluate", "--model", teacher, "--dataset", "fashion-mnist",
                               env={"LAB_DATA_DIR": str(tmp_path / "data")}))
    assert "trained on mnist-sample" in line and "--dataset mnist-sample" in line and "T-shirt/top" in line
    line = _one_clear_line(lab("evaluate", "--model", teacher, "--idx-dir", clothes))
    assert "do not look like the mnist-sample images" in line and "0.29" in line
    real = Path("/usr/share/datasets/fashion-mnist")  # the folder the README named, where this machine has it
    if (real / "t10k-images-idx3-ubyte.gz").is_file():
        assert "do not look like" in _one_clear_line(lab("evaluate", "--model", teacher, "--idx-dir", real))
    run = lab("evaluate", "--model", teacher, "--dataset", "mnist")  # the same digits, all of them: allowed
    assert "do not look like" not in run.stderr and "not on mnist" not in run.stderr


def _one_clear_line(run):
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    lines = [l for l in run.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1, run.stderr
    return lines[0]


def test_bad_input_gives_one_clear_line(cli_teacher, tmp_path):
    teacher, _ = cli_teacher
    assert "not a folder" in _one_clear_line(lab("evaluate", "--model", tmp_path / "missing", "--dataset", "mnist-sample"))
    assert "not a lab checkpoint" in _one_clear_line(lab("distill", "--teacher", tmp_path, "--out", tmp_path / "x"))
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "model.json").write_text((teacher / "model.json").read_text())
    (fake / "model.safetensors").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    assert "never pickles" in _one_clear_line(lab("evaluate", "--model", fake, "--dataset", "mnist-sample"))
    assert "temperature T must be a number above 0" in _one_clear_line(
        lab("distill", "--teacher", teacher, "--temperature", "0", "--out", tmp_path / "y"))
    assert "alpha must lie between 0 and 1" in _one_clear_line(
        lab("distill", "--teacher", teacher, "--alpha", "1.5", "--out", tmp_path / "y"))
    assert "Epochs must be" in _one_clear_line(lab("teacher", "--epochs", "0", "--out", tmp_path / "z"))
    folder = write_mnist_folder(tmp_path / "trunc", compress=False)
    path = folder / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    assert "truncated" in _one_clear_line(lab("evaluate", "--model", teacher, "--idx-dir", folder))
    line = _one_clear_line(lab("teacher", "--dataset", "mnist", "--out", tmp_path / "m",
                               env={"LAB_DATA_DIR": str(tmp_path / "empty")}))
    assert "mnist-sample" in line
    assert not (tmp_path / "y").exists() and not (tmp_path / "z").exists()
