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


# ---------------------------------------------------------------- uploads: the card's dataset and normalization

def _upload(arch="teacher-cnn", dataset="mnist-sample", shape=(1, 28, 28), classes=10, mean=(0.5,), std=(0.25,)):
    from lab.models import to_safetensors
    torch.manual_seed(0)
    model = build(arch, shape, classes).eval()
    card = {"card_version": 1, "arch": arch, "dataset": dataset, "input_shape": list(shape),
            "classes": [str(k) for k in range(classes)], "mean": list(mean), "std": list(std), "metrics": {}}
    return model, to_safetensors(model), json.dumps(card).encode()


@pytest.mark.parametrize("change,message", [
    ({"std": [0.0]}, "must be above 0"), ({"std": [-0.3]}, "must be above 0"),
    ({"std": [float("inf")]}, "one finite number"), ({"mean": [float("nan")]}, "one finite number"),
    ({"mean": [True]}, "one finite number")])
def test_a_card_needs_a_finite_mean_and_a_positive_std(change, message):
    _, weights, card = _upload()
    card = json.dumps({**json.loads(card), **change}).encode()  # json writes NaN/Infinity, and reads them back
    with pytest.raises(CheckpointError, match=message) as error:
        checkpoints.from_upload(weights, card)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("changes,message", [
    ({"dataset": "fashion-mnist"}, "trained on 'fashion-mnist', but here the data is 'mnist-sample'"),
    ({"shape": (3, 32, 32), "mean": (0.5,) * 3, "std": (0.25,) * 3}, r"takes \[3, 32, 32\] images"),
    ({"classes": 7}, "has 7 classes but mnist-sample has 10")])
def test_an_upload_for_another_dataset_is_refused(sample, changes, message):
    _, weights, card = _upload(**changes)
    with pytest.raises(CheckpointError, match=message) as error:
        checkpoints.from_upload(weights, card, dataset=sample)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("arch", ["teacher-cnn", "student-mlp"])
def test_an_upload_is_scored_with_its_cards_normalization(sample, arch):
    """The card says the model was trained on (pixels − 0.5) / 0.25; the lab feeds the dataset's
    normalization. Reference: the same weights on images normalized by hand with the card's numbers."""
    from lab.metrics import predict_logits
    from lab.objectives import body_outputs
    reference_model, weights, card = _upload(arch)
    images = sample.test_images[:64]
    by_hand = (images.float() / 255 - 0.5) / 0.25
    with torch.no_grad():
        expected = reference_model(by_hand)
    uploaded, _ = checkpoints.from_upload(weights, card, dataset=sample)
    got = predict_logits(uploaded, images, sample.mean, sample.std)
    assert torch.allclose(got, expected, atol=1e-4)
    plain = predict_logits(reference_model, images, sample.mean, sample.std)  # what the lab did before
    assert not torch.allclose(plain, expected, atol=1e-2)
    # the feature-map walk (hint and attention objectives) sees the same re-normalized input
    x = (images.float() / 255 - sample.mean[0]) / sample.std[0]
    with torch.no_grad():
        assert torch.allclose(body_outputs(uploaded.eval(), x)[-1], reference_model.body(by_hand), atol=1e-4)


def test_an_upload_with_the_datasets_own_statistics_is_left_alone(sample):
    _, weights, card = _upload("student-mlp", mean=tuple(sample.mean), std=tuple(sample.std))
    uploaded, _ = checkpoints.from_upload(weights, card, dataset=sample)
    assert not any(m._forward_pre_hooks for m in uploaded.modules())


def _hammer(write, writers=4, rounds=30):
    """`write()` from several threads at once, many times; the errors they met."""
    import threading
    errors, barrier = [], threading.Barrier(writers)

    def work():
        barrier.wait()
        for _ in range(rounds):
            try:
                write()
            except Exception as e:  # noqa: BLE001 - collected, then asserted empty
                errors.append(repr(e))
                return
    threads = [threading.Thread(target=work) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_two_jobs_saving_one_checkpoint_folder_never_collide(sample, tmp_path):
    """A fixed "model.json.tmp" was shared by every writer: the second truncated the first's, and
    one rename found nothing to move (FileNotFoundError ended a student's job in "error")."""
    model = build("student-mlp", sample.shape, sample.num_classes)
    card = checkpoints.make_card(model, sample, {"test_accuracy": 0.5})
    assert _hammer(lambda: checkpoints.save(tmp_path, model, card)) == []
    loaded, loaded_card = checkpoints.load(tmp_path)  # whole files, never a mix of halves
    assert loaded_card == json.loads(json.dumps(card)) and all(
        torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.safetensors"]  # no temp left


def test_write_atomically_leaves_no_temp_file_when_it_fails(tmp_path):
    from lab.atomic import write_atomically
    write_atomically(tmp_path / "a.json", '{"x": 1}')
    with pytest.raises(TypeError):
        write_atomically(tmp_path / "a.json", 12345)  # not bytes: the write fails half way
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1}  # the old content stands
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
