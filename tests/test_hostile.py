"""Hostile and broken input at the library / CLI level: every case is one clear line on
stderr, a non-zero exit code, and nothing already in the run history is lost."""
import json
import shutil
import socket
import subprocess
import sys

import pytest

from helpers import one_error_line
from lab.cli import main
from lab.serve.runs import RunStore


@pytest.fixture
def history(tmp_path, monkeypatch):
    """A run history that already holds three runs (one of them still running elsewhere)."""
    path = tmp_path / "runs.sqlite3"
    monkeypatch.setenv("LAB_RUNS_DB", str(path))
    store = RunStore(path)
    for i, status in enumerate(["finished", "stopped", "finished"]):
        run = store.start_run("teacher", {"seed": i}, dataset="mnist-sample", arch="teacher-cnn", session="earlier")
        store.finish_run(run, status, metrics={"test_accuracy": 0.9 + i / 100}, curves=[{"epoch": 1}])
    before = [r.as_dict() for r in store.list_runs()]
    yield store
    after = {r.id: r.as_dict() for r in store.list_runs()}
    for run in before:  # every earlier run is still there, unchanged
        assert after[run["id"]] == run


@pytest.mark.parametrize("argv,needle", [
    (["teacher", "--epochs", "0"], "Epochs must be a whole number from 1 to 50"),
    (["teacher", "--epochs", "-3"], "Epochs must be"),
    (["teacher", "--lr", "nan"], "learning rate must be a number above 0"),
    (["teacher", "--lr", "-1"], "learning rate must be a number above 0"),
    (["teacher", "--batch-size", "0"], "batch size"),
    # The server's limits (lab.limits) hold in the config classes, so on the command line too.
    (["teacher", "--epochs", "51"], "Epochs must be a whole number from 1 to 50 (got 51): a shared server"),
    (["teacher", "--epochs", "1000000"], "Epochs must be a whole number from 1 to 50"),
    (["teacher", "--batch-size", "100000"], "The batch size must be a whole number from 1 to 4,096 (got 100000)"),
    (["teacher", "--seed", "-1"], "The seed must be a whole number from 0 to"),
])
def test_bad_training_settings(history, tmp_path, capsys, argv, needle):
    assert main(argv + ["--out", str(tmp_path / "out")]) == 2
    one_error_line(capsys, needle)
    assert not (tmp_path / "out").exists()
    assert len(history.list_runs()) == 3  # refused before any run started: nothing recorded


@pytest.mark.parametrize("option,value,needle", [
    ("--temperature", "0", "temperature T must be a number above 0"),
    ("--temperature", "-2", "temperature T must be a number above 0"),
    ("--temperature", "inf", "temperature T must be a number above 0"),
    ("--alpha", "1.5", "alpha must lie between 0 and 1"),
    ("--alpha", "-0.5", "alpha must lie between 0 and 1"),
    ("--epochs", "51", "Epochs must be a whole number from 1 to 50 (got 51)"),
])
def test_bad_distillation_settings(history, trained_teacher, tmp_path, capsys, option, value, needle):
    assert main(["distill", "--teacher", str(trained_teacher[1]), option, value, "--out", str(tmp_path / "s")]) == 2
    one_error_line(capsys, needle)
    assert len(history.list_runs()) == 3


def test_a_learning_rate_that_makes_the_loss_nan(history, tmp_path, capsys):
    assert main(["teacher", "--model", "student-mlp", "--lr", "1e30", "--epochs", "1", "--out", str(tmp_path / "t")]) == 2
    one_error_line(capsys, "training diverged", "Lower the learning rate")
    (run,) = history.list_runs(status="failed")  # recorded, with the reason
    assert "diverged" in run.message and run.arch == "student-mlp"
    assert not (tmp_path / "t" / "model.safetensors").exists()


@pytest.mark.parametrize("damage", ["pickle", "truncated", "card"])
def test_a_corrupt_checkpoint(history, trained_teacher, tmp_path, capsys, damage):
    folder = tmp_path / "teacher"
    shutil.copytree(trained_teacher[1], folder)
    weights = folder / "model.safetensors"
    if damage == "pickle":
        import pickle
        weights.write_bytes(pickle.dumps({"w": [1, 2, 3]}))
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:1000])
    else:
        (folder / "model.json").write_text('{"arch": "teacher-cnn", ')
    for argv in (["distill", "--teacher", str(folder), "--out", str(tmp_path / "s")],
                 ["evaluate", "--model", str(folder), "--dataset", "mnist-sample"],
                 ["export", "--model", str(folder), "--out", str(tmp_path / "m.onnx")]):
        assert main(argv) == 2
        one_error_line(capsys, "not valid JSON" if damage == "card" else "not a safetensors file")
    assert len(history.list_runs()) == 3 and not (tmp_path / "m.onnx").exists()


def test_an_unreachable_dataset_mirror(history, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LAB_OFFLINE", raising=False)

    def no_network(*args, **kwargs):
        raise OSError("Network is unreachable")
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert main(["teacher", "--dataset", "cifar10", "--out", str(tmp_path / "t")]) == 2
    one_error_line(capsys, "Cannot download cifar10", "mnist-sample")
    assert len(history.list_runs()) == 3


def test_a_damaged_history_does_not_stop_training_and_is_not_overwritten(tmp_path, capsys, monkeypatch):
    damaged = tmp_path / "runs.sqlite3"
    damaged.write_bytes(b"not sqlite" * 50)
    monkeypatch.setenv("LAB_RUNS_DB", str(damaged))
    assert main(["teacher", "--model", "student-mlp", "--epochs", "1", "--out", str(tmp_path / "t")]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "This run is not recorded" in err
    assert (tmp_path / "t" / "model.safetensors").is_file() and damaged.read_bytes() == b"not sqlite" * 50
    assert main(["runs"]) == 2
    one_error_line(capsys, "Move the file away")


def test_runs_lists_one_json_list_and_deletes(history, capsys):
    assert main(["runs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert isinstance(listed, list) and [r["status"] for r in listed] == ["finished", "stopped", "finished"]
    assert listed[0]["test_accuracy"] == pytest.approx(0.92)
    assert main(["runs", "--json", "--full", "--status", "stopped"]) == 0
    (full,) = json.loads(capsys.readouterr().out)
    assert full["curves"] == [{"epoch": 1}] and full["config"] == {"seed": 1}
    assert main(["runs"]) == 0 and "teacher-cnn" in capsys.readouterr().out
    assert main(["runs", "--delete", "999"]) == 2
    one_error_line(capsys, "no run 999")


def test_the_real_command_exits_non_zero_without_a_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "lab", "distill", "--teacher", str(tmp_path / "missing"),
                           "--out", str(tmp_path / "s")], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "LAB_RUNS_DB": str(tmp_path / "runs.sqlite3")})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and "is not a folder" in done.stderr
