"""Every page on CIFAR-10 (issue 16, item 3), through AppTest on a tiny CIFAR-shaped folder (the
real python-batch format, random colour images): the Data page's grid is in colour, a teacher and
a pair train, Dark knowledge states how often the teacher's runner-up is of the same kind (animal,
vehicle) against chance, Compare shows its images in colour, and the Draw page becomes "Upload a
photo": a photo is classified into CIFAR-10's classes. Then the same pages on the real files when
../shared/data holds them (skipped elsewhere)."""
from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from PIL import Image

import helpers
from lab.dark_knowledge import KINDS, second_choice_kind
from lab.data import CIFAR10
from lab.metrics import predict_logits

REAL = Path(os.environ.get("LAB_REAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DATA, TEACHER, DARK, DISTILL, COMPARE, DRAW = (f"app_pages/{p}.py" for p in
                                               ("data", "teacher", "dark_knowledge", "distill", "compare", "draw"))


@pytest.fixture
def forget_datasets():
    """The app caches a dataset by its name for the server's life: another test's cifar10 (absent,
    fake or real) must not be this one's."""
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def _picture(figure: dict) -> np.ndarray:
    source = next(t["source"] for t in figure["data"] if t["type"] == "image")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))))


def _png(colour, size=(90, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _go(at, page):
    at.switch_page(page)
    at.run()
    helpers.ok(at, page)
    return at


def test_every_page_on_a_cifar_shaped_dataset(tmp_path, monkeypatch, forget_datasets):
    from conftest import write_cifar_folder
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path / "data"))
    write_cifar_folder(tmp_path / "data" / "cifar-10-batches-py", n_per_batch=40, seed=1)
    at = helpers.app({"dataset": "cifar10", "student": "student-mlp", "epochs": "1"})
    helpers.ok(at, "open")

    _go(at, DATA)
    assert at.title[0].value == "Data" and at.metric[0].value == "cifar10"
    grid = next(f for f in helpers.figures(at) if f["data"][0]["type"] == "image")
    assert list(grid["layout"]["meta"]["classes"]) == list(CIFAR10)
    picture = _picture(grid)
    assert picture.ndim == 3 and picture.shape[2] == 3
    assert (picture[..., 0] != picture[..., 1]).mean() > 0.5  # colour photos, not grey digits

    _go(at, TEACHER)
    at.selectbox(key="w_teacher_arch").set_value("student-mlp")
    at.number_input(key="w_teacher_epochs").set_value(1)
    at.button[0].click().run()
    job = helpers.wait_for_job(at, "teacher", timeout=60)
    assert job.status == "finished", job.message
    teacher = job.runs["teacher"].model.cpu().eval()

    _go(at, DARK)
    heatmap = next(f for f in helpers.figures(at) if f["data"][0]["type"] == "heatmap")
    assert list(heatmap["data"][0]["x"]) == list(CIFAR10)
    from lab.data import load
    data = load("cifar10")
    expected = second_choice_kind(predict_logits(teacher, data.test_images, data.mean, data.std), CIFAR10,
                                  KINDS["cifar10"])
    assert any("of a kind (animal, vehicle)" in h.value for h in at.subheader)
    shown = {m.label: m.value for m in at.metric}
    assert shown["Second choice of the same kind"] == f"{expected['rate']:.1%}"
    assert shown["If the second choice were random"] == f"{expected['chance']:.1%}"

    _go(at, DISTILL)
    next(b for b in at.button if "Train both" in b.label).click().run()
    pair = helpers.wait_for_job(at, "distill", timeout=60)
    assert pair.status == "finished", pair.message

    _go(at, COMPARE)
    assert any(s.value == "Where distillation helped, image by image" for s in at.subheader)
    grid = next(f for f in helpers.figures(at) if f["layout"].get("xaxis", {}).get("visible") is False)
    if grid["data"]:  # some test images changed hands (else "no such image"): shown in colour
        assert _picture(grid).shape[2] == 3

    _go(at, DRAW)
    assert at.title[0].value.endswith("Upload a photo")
    at.file_uploader(key="photo_upload").set_value(("photo.png", _png((200, 30, 30)), "image/png")).run()
    helpers.ok(at, "a photo")
    from lab.photos import as_batch, from_photo_bytes
    photo = as_batch(from_photo_bytes(_png((200, 30, 30))))
    said = [m for m in at.metric if m.label == "predicts"]
    assert len(said) == 3 and all(m.value in CIFAR10 for m in said)  # the teacher, then the pair's students
    assert said[0].value == CIFAR10[int(predict_logits(teacher, photo, data.mean, data.std)[0].argmax())]
    at.file_uploader(key="photo_upload").set_value(("notes.pkl", b"\x80\x04\x95 not an image", "application/x")).run()
    helpers.ok(at, "not a photo")
    assert any("This image cannot be used" in e.value and "not an image" in e.value for e in at.error)


@pytest.mark.skipif(not (REAL / "cifar-10-batches-py" / "data_batch_1").is_file(),
                    reason=f"the real CIFAR-10 files are not in {REAL}")
def test_the_data_and_photo_pages_on_the_real_files(tmp_path, monkeypatch, forget_datasets):
    (tmp_path / "cifar-10-batches-py").symlink_to(REAL / "cifar-10-batches-py")  # nothing is written beside them
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path))
    at = helpers.app({"dataset": "cifar10"})
    _go(at, DATA)
    assert [m.value for m in at.metric[:3]] == ["cifar10", "50,000", "10,000"]
    picture = _picture(next(f for f in helpers.figures(at) if f["data"][0]["type"] == "image"))
    assert picture.shape[2] == 3
    _go(at, DRAW)
    assert at.title[0].value.endswith("Upload a photo")
    # (the Dark knowledge page's numbers on the shipped teacher: `python -m lab lessons --check --dataset cifar10`)
