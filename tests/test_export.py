import io
import json
import pickle

import numpy as np
import pytest
import torch

from lab import checkpoints
from lab.cli import main
from lab.errors import CheckpointError, ConfigError
from lab.export import export, run_onnx
from lab.data import normalize


def test_onnx_export_matches_pytorch_in_onnxruntime(trained_teacher, sample, tmp_path, capsys):
    model, folder = trained_teacher
    assert main(["export", "--model", str(folder), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 0
    written = json.loads(capsys.readouterr().out)
    data = (tmp_path / "m.onnx").read_bytes()
    assert written["bytes"] == len(data)

    images = sample.test_images[:200]  # (200, 1, 28, 28) uint8
    loaded, card = checkpoints.load(folder)
    with torch.no_grad():  # fp32, as the ONNX file (predict_logits would use bf16 where the CPU has it)
        expected = loaded.eval()(normalize(images, card["mean"], card["std"])).numpy()
    got = run_onnx(data, images.float().numpy() / 255)  # the file takes pixels in [0, 1]
    assert got.shape == (200, 10)
    assert np.abs(got - expected).max() < 1e-4
    assert (got.argmax(1) == expected.argmax(1)).all()
    assert run_onnx(data, images[:1].float().numpy() / 255).shape == (1, 10)  # any batch size

    import onnx
    meta = {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
    assert json.loads(meta["classes"]) == card["classes"] and json.loads(meta["lab_card"])["arch"] == "teacher-cnn"


def test_safetensors_export_round_trips_through_upload(trained_teacher, tmp_path):
    model, folder = trained_teacher
    written = export(folder, "safetensors", tmp_path / "out" / "teacher.safetensors")
    weights = (tmp_path / "out" / "teacher.safetensors").read_bytes()
    card = (tmp_path / "out" / "teacher.json").read_bytes()
    assert written["card"].endswith("teacher.json")
    loaded, loaded_card = checkpoints.from_upload(weights, card, expect_shape=(1, 28, 28))
    assert loaded_card == json.loads((folder / "model.json").read_text())
    for (k, a), (_, b) in zip(model.cpu().state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    from safetensors import safe_open
    with safe_open(str(tmp_path / "out" / "teacher.safetensors"), "pt") as f:
        assert json.loads(f.metadata()["lab_card"])["arch"] == "teacher-cnn"


def test_export_refuses_unknown_format_and_missing_model(trained_teacher, tmp_path, capsys):
    with pytest.raises(ConfigError, match="Unknown export format"):
        export(trained_teacher[1], "tflite", tmp_path / "x")
    assert main(["export", "--model", str(tmp_path / "nothing"), "--out", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "is not a folder" in err[0]


# ---------------------------------------------------------------- uploads

@pytest.fixture(scope="module")
def upload(trained_teacher):
    folder = trained_teacher[1]
    return (folder / "model.safetensors").read_bytes(), (folder / "model.json").read_bytes()


def _card(upload, **changes) -> bytes:
    card = json.loads(upload[1])
    card.update(changes)
    return json.dumps(card).encode()


def _torch_save() -> bytes:
    from lab.models import build
    buffer = io.BytesIO()
    torch.save(build("teacher-cnn").state_dict(), buffer)
    return buffer.getvalue()


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


HOSTILE = {
    "pickle": (lambda u: (pickle.dumps({"w": Evil()}), u[1]), "Python pickle"),
    "torch.save": (lambda u: (_torch_save(), u[1]), "zip archive"),
    "random bytes": (lambda u: (bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)), u[1]),
                     "not a safetensors file"),
    "an image": (lambda u: (b"\x89PNG\r\n\x1a\n" + bytes(100), u[1]), "it is an image"),
    "truncated": (lambda u: (u[0][: len(u[0]) // 2], u[1]), "not a safetensors file"),
    "wrong architecture": (lambda u: (u[0], _card(u, arch="student-cnn-small")), "does not fit architecture"),
    "unknown architecture": (lambda u: (u[0], _card(u, arch="resnet-9000")), "does not know"),
    "wrong input shape": (lambda u: (u[0], _card(u, input_shape=[3, 32, 32], mean=[0.5] * 3, std=[0.2] * 3)),
                          "Wrong input shape"),
    "200 MB upload": (lambda u: (bytes(200_000_000), u[1]), "200 MB"),
    "corrupt JSON": (lambda u: (u[0], u[1][:-20]), "not valid JSON"),
    "card not UTF-8": (lambda u: (u[0], b"\xff\xfe" + u[1]), "not valid JSON"),
    "huge card": (lambda u: (u[0], b" " * 2_000_000 + u[1]), "a few KB of JSON"),
    "weights as card": (lambda u: (u[1], u[1]), "looks like JSON"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_uploads_get_a_clear_message(upload, case, capsys):
    make, message = HOSTILE[case]
    weights, card = make(upload)
    with pytest.raises(CheckpointError, match=message) as error:
        checkpoints.from_upload(weights, card)
    assert "\n" not in str(error.value) and len(str(error.value)) < 400
    assert "must never run" not in capsys.readouterr().out


def test_upload_for_another_input_shape_is_refused(upload):
    with pytest.raises(CheckpointError, match=r"takes \[1, 28, 28\] images, but here the images are \[3, 32, 32\]"):
        checkpoints.from_upload(*upload, expect_shape=(3, 32, 32))
