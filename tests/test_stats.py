"""lab.stats against hand-computed references: exact binomial sums for McNemar, the normal
approximation of a paired difference for the bootstrap, a t-table value for the seed interval."""
import math

import numpy as np
import pytest
import torch

from lab.stats import correct, mcnemar_exact, over_seeds, paired_difference, paired_from_counts, paired_from_logits


def table(only_a: int, only_b: int, both: int, neither: int):
    """Per-image correctness of two models with the given paired 2×2 table."""
    a = [True] * only_a + [False] * only_b + [True] * both + [False] * neither
    b = [False] * only_a + [True] * only_b + [True] * both + [False] * neither
    return np.array(a), np.array(b)


def test_tiny_table_by_hand():
    # 10 images: A alone right on 1, B alone right on 5, both right on 3, neither on 1.
    a, b = table(1, 5, 3, 1)
    d = paired_difference(a, b)
    assert (d.n, d.only_a, d.only_b) == (10, 1, 5)
    assert d.accuracy_a == pytest.approx(0.4) and d.accuracy_b == pytest.approx(0.8)
    assert d.difference == pytest.approx(0.4)
    # Two-sided exact McNemar: 2 · P(X ≤ 1), X ~ Binomial(6, 1/2) = 2 · (1 + 6) / 64
    assert d.p_value == pytest.approx(14 / 64)


@pytest.mark.parametrize("only_a, only_b, expected", [
    (0, 6, 2 / 64),                              # 2 · C(6,0) / 2^6
    (2, 10, 2 * (1 + 12 + 66) / 4096),           # 2 · (C(12,0) + C(12,1) + C(12,2)) / 2^12
    (5, 5, 1.0),                                 # a balanced table: no evidence at all
    (0, 0, 1.0)])                                # no discordant image
def test_mcnemar_exact_against_binomial_sums(only_a, only_b, expected):
    assert mcnemar_exact(only_a, only_b) == pytest.approx(expected)
    assert mcnemar_exact(only_b, only_a) == pytest.approx(expected)  # symmetric


def test_identical_predictions_are_within_noise():
    a, b = table(0, 0, 90, 10)
    d = paired_difference(a, b)
    assert (d.low, d.high, d.difference) == (0.0, 0.0, 0.0)
    assert d.within_noise and d.words() == "0.0 points (95 % CI 0.0 to 0.0), within noise"


def test_bootstrap_matches_the_normal_approximation_on_a_large_case():
    # 10,000 images, 300 only A right, 400 only B right: d = +1 point and
    # se = √((b + c)/n² − (b − c)²/n³) ≈ √(b + c)/n = 0.26 point.
    n, only_a, only_b = 10_000, 300, 400
    a, b = table(only_a, only_b, 8_500, n - 9_200)
    d = paired_difference(a, b, resamples=20_000)
    se = math.sqrt((only_a + only_b) / n ** 2 - (only_b - only_a) ** 2 / n ** 3)
    assert se == pytest.approx(math.sqrt(only_a + only_b) / n, rel=0.01)
    assert d.difference == pytest.approx(0.01)
    assert d.low == pytest.approx(0.01 - 1.959964 * se, abs=0.1 * se)
    assert d.high == pytest.approx(0.01 + 1.959964 * se, abs=0.1 * se)
    assert not d.within_noise and d.words().endswith("beyond noise")
    assert d.words().startswith("+1.0 points (95 % CI +0.5 to +1.5)")


def test_a_small_gain_on_1000_images_is_within_noise():
    # 40 vs 45 discordant images: +0.5 point, se ≈ √85 / 1000 ≈ 0.9 point.
    a, b = table(40, 45, 890, 25)
    d = paired_difference(a, b)
    assert d.within_noise and d.low < 0 < d.high
    assert d.words().startswith("+0.5 points (95 % CI -1.") and d.words().endswith("within noise")
    assert d.p_value > 0.5


def test_seeded_and_reproducible():
    a, b = table(30, 50, 900, 20)
    assert paired_difference(a, b, seed=3) == paired_difference(a, b, seed=3)
    other = paired_difference(a, b, seed=4)
    assert other.low == pytest.approx(paired_difference(a, b, seed=3).low, abs=0.003)


def test_from_logits():
    labels = torch.tensor([0, 1, 2, 0])
    logits_a = torch.eye(3)[[0, 1, 0, 1]]   # right on images 0, 1
    logits_b = torch.eye(3)[[0, 2, 2, 0]]   # right on images 0, 2, 3
    assert correct(logits_a, labels).tolist() == [True, True, False, False]
    d = paired_from_logits(logits_a, logits_b, labels)
    assert (d.only_a, d.only_b, d.difference) == (1, 2, 0.25)
    assert d.as_dict()["within_noise"] is True and "words" in d.as_dict()


def test_bad_input_says_what_is_wrong():
    with pytest.raises(ValueError, match="same non-empty"):
        paired_difference([True, False], [True])
    with pytest.raises(ValueError, match="same non-empty"):
        paired_difference([], [])


def test_t_interval_over_seeds_by_hand():
    s = over_seeds([0.01, 0.02, 0.03])
    assert s.mean == pytest.approx(0.02) and s.std == pytest.approx(0.01)
    half = 4.303 * 0.01 / math.sqrt(3)  # t(0.975, 2 d.f.) = 4.303 from a t table
    assert s.low == pytest.approx(0.02 - half, abs=1e-5) and s.high == pytest.approx(0.02 + half, abs=1e-5)
    assert s.within_noise  # the interval (−0.5, +4.5 points) contains 0
    assert s.words() == "+2.0 ± 1.0 points over 3 seeds (95 % CI of the mean -0.5 to +4.5), within noise"
    five = over_seeds([0.010, 0.012, 0.008, 0.011, 0.009])
    assert not five.within_noise and five.words().endswith("beyond noise")


def test_one_seed_has_no_spread():
    s = over_seeds([0.004])
    assert s.std is None and s.low is None and s.within_noise
    assert "one seed" in s.words()
    with pytest.raises(ValueError):
        over_seeds([float("nan")])


def test_the_table_alone_gives_the_same_result():
    a, b = table(30, 50, 900, 20)
    assert paired_from_counts(1000, 900, 30, 50) == paired_difference(a, b)
    with pytest.raises(ValueError, match="Not a paired table"):
        paired_from_counts(10, 8, 2, 3)
