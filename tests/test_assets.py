"""The pretrained teacher in assets/ (made by `python -m lab teacher --dataset mnist-sample
--out assets/teacher-mnist-sample`) loads strictly and measures what its card says."""
from pathlib import Path

import pytest

from lab import checkpoints
from lab.metrics import accuracy, predict_logits
from lab.models import count_params

ASSET = Path(__file__).resolve().parent.parent / "assets" / "teacher-mnist-sample"


def test_pretrained_teacher_loads_and_re_measures_as_its_card_says(sample):
    model, card = checkpoints.load(ASSET)
    assert card["dataset"] == "mnist-sample" and card["arch"] == model.arch
    assert card["classes"] == list(sample.classes) and card["input_shape"] == list(sample.shape)
    logits = predict_logits(model, sample.test_images, card["mean"], card["std"])
    assert accuracy(logits, sample.test_labels) == pytest.approx(card["metrics"]["test_accuracy"], abs=1e-3)
    assert card["metrics"]["test_accuracy"] >= 0.985
    assert count_params(model) == card["metrics"]["params"]
    assert (ASSET / checkpoints.WEIGHTS).stat().st_size == card["metrics"]["bytes"]
