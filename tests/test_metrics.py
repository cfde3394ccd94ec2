"""Accuracy, confusion matrix, per-class accuracy, ECE and agreement on a small example worked
out by hand (lab/metrics.py)."""
import math

import pytest
import torch

from lab.metrics import accuracy, agreement, confusion_matrix, expected_calibration_error, per_class_accuracy, \
    reliability

# Four images, three classes, given as probabilities (logits = log p, so softmax gives p back):
#   image  p                    label  predicted  confidence  correct
#   1      0.90 0.05 0.05       0      0          0.90        yes
#   2      0.65 0.25 0.10       1      0          0.65        no
#   3      0.20 0.70 0.10       1      1          0.70        yes
#   4      0.05 0.10 0.85       2      2          0.85        yes
PROBS = [[0.90, 0.05, 0.05], [0.65, 0.25, 0.10], [0.20, 0.70, 0.10], [0.05, 0.10, 0.85]]
LOGITS = torch.tensor([[math.log(p) for p in row] for row in PROBS])
LABELS = torch.tensor([0, 1, 1, 2])


def test_accuracy_confusion_and_per_class_by_hand():
    assert accuracy(LOGITS, LABELS) == pytest.approx(3 / 4)
    # rows: true class; columns: predicted class
    assert confusion_matrix(LOGITS, LABELS, 3).tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert per_class_accuracy(LOGITS, LABELS, 3) == pytest.approx([1.0, 0.5, 1.0])


def test_ece_by_hand():
    """5 equal-width bins: [0.6, 0.8) holds images 2 and 3 (accuracy 1/2, mean confidence 0.675),
    [0.8, 1] holds 1 and 4 (accuracy 1, confidence 0.875): ECE = ½·0.175 + ½·0.125 = 0.15."""
    r = reliability(LOGITS, LABELS, bins=5)
    assert r["count"] == [0, 0, 0, 2, 2]
    assert r["accuracy"][3:] == pytest.approx([0.5, 1.0]) and r["confidence"][3:] == pytest.approx([0.675, 0.875])
    assert expected_calibration_error(LOGITS, LABELS, bins=5) == pytest.approx(0.15, abs=1e-6)
    # a model that is right exactly as often as it is confident is perfectly calibrated
    sure = torch.tensor([[10.0, -10.0]] * 4)
    assert expected_calibration_error(sure, torch.zeros(4, dtype=torch.long), bins=10) == pytest.approx(0, abs=1e-6)


def test_agreement_by_hand():
    other = torch.nn.functional.one_hot(torch.tensor([0, 1, 1, 2]), 3).float()  # predicts 0, 1, 1, 2
    assert agreement(LOGITS, other) == pytest.approx(3 / 4)  # LOGITS predict 0, 0, 1, 2
    assert agreement(LOGITS, LOGITS) == 1.0


def test_evaluation_and_teacher_logits_are_fp32_where_training_uses_bf16(sample, monkeypatch):
    """Where bf16 autocast is on for training (native bf16: Ampere GPUs, AVX512-BF16 CPUs; forced
    here so the test means the same on every machine), logits for evaluation and the teacher's
    cached soft targets are still the fp32 model's, bit for bit."""
    from lab import device
    from lab.data import normalize
    from lab.metrics import predict_logits
    from lab.recipes import init_model, teacher_train_logits
    monkeypatch.setattr(device, "bf16_is_fast", lambda device_type: True)
    model = init_model("student-cnn-tiny", sample, seed=0).eval()
    images = sample.test_images[:200]
    with torch.no_grad():
        fp32 = model(normalize(images, sample.mean, sample.std))
        with device.autocast("cpu"):
            bf16 = model(normalize(images, sample.mean, sample.std)).float()
    assert not torch.equal(bf16, fp32)  # the autocast really is on: its logits differ
    assert torch.equal(predict_logits(model, images, sample.mean, sample.std), fp32)
    with device.autocast("cpu"):  # inside a caller's autocast (a training step) too
        assert torch.equal(predict_logits(model, images, sample.mean, sample.std), fp32)
    small = sample.subset(torch.arange(200))
    with torch.no_grad():
        expected = model(normalize(small.train_images, small.mean, small.std))
    assert torch.equal(teacher_train_logits(model, small, "cpu"), expected)


def test_a_run_says_it_trained_in_bf16_and_was_evaluated_in_fp32(sample, monkeypatch):
    from dataclasses import replace

    from lab import device
    from lab.losses import HardLabels
    from lab.recipes import STUDENT_CONFIG, init_model
    from lab.train import run_to_end, train
    monkeypatch.setattr(device, "bf16_is_fast", lambda device_type: True)
    small = sample.subset(torch.arange(256))
    result = run_to_end(train(init_model("student-mlp", small, 0), small, HardLabels(),
                              replace(STUDENT_CONFIG, epochs=1, device="cpu")))
    assert result.metrics["precision"] == "bf16" and result.metrics["evaluation_precision"] == "fp32"
