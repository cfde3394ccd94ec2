"""lab.stats against hand-computed references: exact binomial sums for McNemar, closed forms and
R's binom.test example for Clopper–Pearson, McNemar's verdict on every table with b + c ≤ 60 for
the "beyond noise" rule, the normal approximation on a large table, a t-table value for seeds."""
import math

import numpy as np
import pytest
import torch

from lab.stats import (clopper_pearson, correct, mcnemar_exact, over_seeds, paired_difference, paired_from_counts,
                       paired_from_logits)


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
    assert (d.low, d.high, d.difference, d.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert d.within_noise and d.words() == "0.0 points (95 % CI 0.0 to 0.0), within noise"


def hand_p(only_a: int, only_b: int) -> float:
    """2 · the smaller binomial tail at 1/2, summed in exact integers (capped at 1)."""
    m, k = only_a + only_b, min(only_a, only_b)
    return min(1.0, 2 * sum(math.comb(m, i) for i in range(k + 1)) / 2 ** m)


@pytest.mark.parametrize("only_a, only_b, p", [
    (0, 4, 0.125),        # issue 15: 0 vs 4 discordant images, p = 2 / 16
    (5, 14, 0.0636),      # issue 15: 5 vs 14
    (30, 48, 0.0535),     # issue 15: 30 vs 48, p ≈ 0.054
])
def test_the_issues_examples_are_within_noise_as_mcnemar_says(only_a, only_b, p):
    """On 1,000 images the old percentile bootstrap called these "beyond noise" (lower end +0.1)."""
    d = paired_from_counts(1000, 900, only_a, only_b)
    assert d.p_value == pytest.approx(p, abs=5e-4) and d.p_value == pytest.approx(hand_p(only_a, only_b))
    assert d.within_noise and d.low < 0 < d.high and d.words().endswith("within noise")


def test_clopper_pearson_against_published_and_closed_form_values():
    # R's binom.test(682, 925, p = 0.75) example (Mendel's peas): 95 % CI 0.7076683 to 0.7654066.
    assert clopper_pearson(682, 925) == pytest.approx((0.7076683, 0.7654066), abs=1e-7)
    # No success in m trials: P(X = 0) = (1 − p)^m = 0.025 at the upper end; all successes: p^m = 0.025.
    assert clopper_pearson(0, 10) == pytest.approx((0.0, 1 - 0.025 ** (1 / 10)))   # (0, 0.3085)
    assert clopper_pearson(10, 10) == pytest.approx((0.025 ** (1 / 10), 1.0))
    # One success in m: the upper end solves P(X ≤ 1) = (1 − p)^m + m p (1 − p)^(m−1) = 0.025.
    low, high = clopper_pearson(1, 8)
    assert (1 - high) ** 8 + 8 * high * (1 - high) ** 7 == pytest.approx(0.025)
    assert 1 - (1 - low) ** 8 == pytest.approx(0.025)          # P(X ≥ 1) = 0.025 at the lower end
    assert clopper_pearson(0, 0) == (0.0, 1.0)


def test_interval_is_clopper_pearson_on_the_discordant_split_by_hand():
    # 0 vs 4 on 1,000 images: p = b/(b+c) = 0, Clopper–Pearson (0, 1 − 0.025^(1/4)) = (0, 0.6024);
    # the difference is (b + c)/n · (2p − 1): from −0.4 to 0.004 · (2 · 0.6024 − 1) = +0.082 points.
    d = paired_from_counts(1000, 900, 4, 0)  # A alone right on 4 images: B − A = −0.4 points
    assert d.difference == pytest.approx(-0.004) and d.p_value == 0.125
    assert d.low == pytest.approx(-0.004)
    assert d.high == pytest.approx(0.004 * (2 * (1 - 0.025 ** 0.25) - 1))
    assert d.words() == "-0.4 points (95 % CI -0.4 to +0.1), within noise"
    # A balanced table: symmetric about 0.
    even = paired_from_counts(1000, 900, 25, 25)
    assert even.low == pytest.approx(-even.high) and even.p_value == 1.0


def test_the_interval_excludes_0_exactly_when_mcnemar_rejects_on_every_table_up_to_60():
    """The one rule: for every (b, c) with b + c ≤ 60, at 95 % and at 99 %, "beyond noise" ⇔ p < 1 − c,
    with p the exact two-sided test (hand-summed, and scipy's binomtest: the same at 1/2)."""
    from scipy.stats import binomtest
    rejected = 0
    for m in range(61):
        for only_b in range(m + 1):
            only_a = m - only_b
            p = hand_p(only_a, only_b)
            assert mcnemar_exact(only_a, only_b) == pytest.approx(p, rel=1e-9)
            if m:
                assert binomtest(only_b, m, 0.5).pvalue == pytest.approx(p, rel=1e-9)
            for confidence in (0.95, 0.99):
                d = paired_from_counts(1000, 0, only_a, only_b, confidence)
                assert d.low <= d.difference <= d.high
                assert d.within_noise == (p >= 1 - confidence), (only_a, only_b, confidence, p, d.low, d.high)
                rejected += not d.within_noise
    assert rejected > 500  # the grid does hold tables on both sides of the line


@pytest.mark.parametrize("m", [500, 2_000, 9_999])
def test_the_one_rule_holds_on_large_tables_near_the_line(m):
    """60,000 test images, m discordant: every split within 3 of where McNemar's verdict turns."""
    from scipy.stats import binom
    edge = int(binom.ppf(0.025, m, 0.5))  # about where P(X ≤ b) crosses 0.025
    for only_b in range(edge - 3, edge + 4):
        d = paired_from_counts(60_000, 50_000, m - only_b, only_b)
        assert d.within_noise == (d.p_value >= 0.05), (m, only_b, d.p_value)
        mirror = paired_from_counts(60_000, 50_000, only_b, m - only_b)
        assert (mirror.low, mirror.high) == pytest.approx((-d.high, -d.low)) and mirror.p_value == pytest.approx(d.p_value)
    assert not paired_from_counts(60_000, 50_000, m - (edge - 3), edge - 3).within_noise
    assert paired_from_counts(60_000, 50_000, m - (edge + 3), edge + 3).within_noise


def test_the_interval_matches_the_normal_approximation_on_a_large_case():
    # 10,000 images, 300 only A right, 400 only B right: d = +1 point; given the 700 discordant
    # images, se = (2/n) · √(b c / m) = 0.26 point, close to √(b + c)/n.
    n, only_a, only_b = 10_000, 300, 400
    a, b = table(only_a, only_b, 8_500, n - 9_200)
    d = paired_difference(a, b)
    se = 2 / n * math.sqrt(only_a * only_b / (only_a + only_b))
    assert se == pytest.approx(math.sqrt(only_a + only_b) / n, rel=0.02)
    assert d.difference == pytest.approx(0.01)
    # Exact intervals are a little conservative: a shade wider than the normal one, on both sides.
    assert 0.01 - 1.959964 * se - 0.1 * se < d.low < 0.01 - 1.959964 * se
    assert 0.01 + 1.959964 * se < d.high < 0.01 + 1.959964 * se + 0.1 * se
    assert not d.within_noise and d.words().endswith("beyond noise")
    assert d.words().startswith("+1.0 points (95 % CI +0.5 to +1.5)")


def test_a_small_gain_on_1000_images_is_within_noise():
    # 40 vs 45 discordant images: +0.5 point, se ≈ √85 / 1000 ≈ 0.9 point.
    a, b = table(40, 45, 890, 25)
    d = paired_difference(a, b)
    assert d.within_noise and d.low < 0 < d.high
    assert d.words().startswith("+0.5 points (95 % CI -1.") and d.words().endswith("within noise")
    assert d.p_value > 0.5


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


def test_paired_over_seeds_one_seed_is_the_exact_rule_several_a_bootstrap_over_images():
    from lab.stats import paired_over_seeds
    rng = np.random.default_rng(3)
    a = [rng.random(1000) < 0.90 for _ in range(3)]
    b = [x | (rng.random(1000) < 0.2) for x in a]  # B gets right every image A does, and ~2 % more
    one = paired_over_seeds(a[:1], b[:1])
    exact = paired_difference(a[0], b[0])
    assert (one.method, one.difference, one.low, one.high) == ("exact", exact.difference, exact.low, exact.high)
    three = paired_over_seeds(a, b)
    gains = [float(y.mean() - x.mean()) for x, y in zip(a, b)]
    assert three.method == "bootstrap" and three.seeds == 3 and three.difference == pytest.approx(np.mean(gains))
    assert 0 < three.low < three.difference < three.high and not three.within_noise  # B never loses an image
    # 0 vs 4 discordant images on one seed: McNemar p = 0.125, within noise by the one rule
    tie = np.ones(1000, bool)
    better = tie.copy()
    tie[:4] = False
    assert paired_over_seeds([tie], [better]).within_noise
    assert "over 1 seed" in paired_over_seeds([tie], [better]).words()
    with pytest.raises(ValueError, match="same test images"):
        paired_over_seeds(a, b[:2])
