import json
import pickle

import pytest
import torch

from lab import checkpoints
from lab.errors import CheckpointError
from lab.models import build


def test_round_trip_keeps_weights_and_card(trained_teacher, sample):
    model, folder = trained_teacher
    loaded, card = checkpoints.load(folder)
    assert card["arch"] == "teacher-cnn" and card["dataset"] == "mnist-sample"
    assert card["input_shape"] == [1, 28, 28] and len(card["classes"]) == 10
    for key in ("test_accuracy", "params", "bytes", "seconds", "latency_ms", "macs", "ece"):
        assert key in card["metrics"], key
    assert card["metrics"]["bytes"] == (folder / "model.safetensors").stat().st_size
    for (k, a), (_, b) in zip(model.cpu().state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k


@pytest.fixture
def copy_of(trained_teacher, tmp_path):
    import shutil
    shutil.copytree(trained_teacher[1], tmp_path / "ckpt")
    return tmp_path / "ckpt"


def test_a_pickle_is_refused_without_running_it(copy_of, tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))
    (copy_of / "model.safetensors").write_bytes(pickle.dumps({"w": Evil()}))
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        checkpoints.load(copy_of)
    assert not marker.exists()


def test_torch_save_file_is_refused(copy_of):
    torch.save(build("teacher-cnn").state_dict(), copy_of / "model.safetensors")
    with pytest.raises(CheckpointError, match="never pickles"):
        checkpoints.load(copy_of)


def test_random_bytes_and_truncation_are_refused(copy_of):
    data = (copy_of / "model.safetensors").read_bytes()
    (copy_of / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        checkpoints.load(copy_of)
    (copy_of / "model.safetensors").write_bytes(b"\x13\x37" * 1000)
    with pytest.raises(CheckpointError):
        checkpoints.load(copy_of)


def test_card_for_another_architecture_is_refused(copy_of):
    card = json.loads((copy_of / "model.json").read_text())
    card["arch"] = "student-mlp"
    (copy_of / "model.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="does not fit architecture 'student-mlp'"):
        checkpoints.load(copy_of)


def test_wrong_input_shape_is_refused(copy_of):
    card = json.loads((copy_of / "model.json").read_text())
    card.update(input_shape=[3, 32, 32], mean=[0.1] * 3, std=[0.3] * 3)
    (copy_of / "model.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match=r"Wrong input shape"):
        checkpoints.load(copy_of)


@pytest.mark.parametrize("card", ["not json{", json.dumps([1, 2]), json.dumps({"arch": "gpt-5"})])
def test_bad_cards_are_refused(copy_of, card):
    (copy_of / "model.json").write_text(card)
    with pytest.raises(CheckpointError):
        checkpoints.load(copy_of)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="is not a folder"):
        checkpoints.load(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="not a lab checkpoint"):
        checkpoints.load(tmp_path)
