"""lab.dark_knowledge.second_choice_kind: the teacher's runner-up of the same kind (animal / vehicle),
against chance, on hand-made logits."""
import math

import pytest
import torch

from lab.dark_knowledge import KINDS, second_choice_kind
from lab.data import CIFAR10, FASHION


def _logits(*pairs):
    """One row per (top, second) class name: 5 on the top class, 3 on the second, 0 elsewhere."""
    rows = torch.zeros(len(pairs), 10)
    for row, (top, second) in zip(rows, pairs):
        row[CIFAR10.index(top)], row[CIFAR10.index(second)] = 5.0, 3.0
    return rows


def test_the_runner_up_of_the_same_kind_counted_by_hand_against_chance():
    logits = _logits(("cat", "dog"), ("automobile", "truck"), ("cat", "truck"), ("ship", "airplane"))
    found = second_choice_kind(logits, CIFAR10, KINDS["cifar10"])
    assert (found["n"], found["same"], found["rate"]) == (4, 3, 0.75)
    # a random runner-up after a cat: 5 of the 9 other classes are animals; after a vehicle 3 of 9
    assert found["chance"] == pytest.approx((5 / 9 + 3 / 9 + 5 / 9 + 3 / 9) / 4)
    # the exact binomial interval, from scipy's own implementation
    from scipy.stats import binomtest
    exact = binomtest(3, 4).proportion_ci(confidence_level=0.95, method="exact")
    assert (found["low"], found["high"]) == pytest.approx((exact.low, exact.high))


def test_temperature_and_scale_do_not_change_the_order():
    logits = _logits(("deer", "horse"), ("frog", "ship"))
    assert second_choice_kind(logits / 7, CIFAR10, KINDS["cifar10"])["same"] == 1
    assert second_choice_kind(logits * 3, CIFAR10, KINDS["cifar10"])["same"] == 1


def test_random_logits_sit_at_chance_and_a_class_of_no_kind_is_its_own():
    g = torch.Generator().manual_seed(0)
    found = second_choice_kind(torch.randn(20_000, 10, generator=g), CIFAR10, KINDS["cifar10"])
    assert found["chance"] == pytest.approx(0.6 * 5 / 9 + 0.4 * 3 / 9, abs=0.01)  # 6 of 10 tops are animals
    assert found["low"] < found["chance"] < found["high"]
    # only cats and dogs grouped: every other class is a kind of one, never "the same" as another
    alone = second_choice_kind(_logits(("cat", "dog"), ("ship", "airplane")), CIFAR10, {"pets": ("cat", "dog")})
    assert alone["same"] == 1 and alone["chance"] == pytest.approx((1 / 9 + 0) / 2)
    assert math.isnan(second_choice_kind(torch.zeros(0, 10), CIFAR10, KINDS["cifar10"])["rate"])


def test_the_kinds_cover_their_datasets_classes_once():
    for kinds, classes in ((KINDS["cifar10"], CIFAR10), (KINDS["fashion-mnist"], FASHION)):
        members = [c for group in kinds.values() for c in group]
        assert sorted(members) == sorted(classes)
