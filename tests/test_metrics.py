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
