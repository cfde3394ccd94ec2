"""How sure a difference is: two models on the same test images, and one gain over seeds.

    paired_from_counts(n, both, only_a, only_b)   B − A in accuracy from the paired 2×2 table: an
                                                  exact interval and McNemar's exact test, one rule
    paired_difference(correct_a, correct_b)       the same from per-image right/wrong
    paired_from_logits(logits_a, logits_b, labels)  the same from two models' logits
    over_seeds(gains)                             mean ± spread of per-seed values and a t-interval

A 1,000-image test split has a standard error of ~0.75 point near 94 %, and the gains the lab
teaches are 0.5-1.5 points: a difference is shown with its interval, and "within noise" when the
interval contains 0. Both models are scored on the *same* images, so the noise that matters is
that of the paired difference, which depends only on the discordant images (one right, the
other wrong): se ≈ √(b + c) / n for b and c discordant images in each direction.

Every "beyond noise" / "within noise" about two models on the same images comes from
`paired_from_counts`, whose interval excludes 0 exactly when McNemar's exact test rejects (tested
on every table with b + c ≤ 60). It replaced a percentile bootstrap over the images, which called
0 vs 4 discordant images (McNemar p = 0.125) or 30 vs 48 (p = 0.054) on 1,000 images "beyond
noise": with few discordant images a percentile bootstrap is too eager.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch


def correct(logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """(N,) bool: which test images a model gets right."""
    return (torch.as_tensor(logits).argmax(-1).cpu() == torch.as_tensor(labels).cpu()).numpy()


def _signed(points: float) -> str:
    text = f"{points:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


@dataclass(frozen=True)
class PairedDifference:
    """Model B minus model A on the same n test images (accuracies and interval as fractions)."""
    n: int
    accuracy_a: float
    accuracy_b: float
    only_a: int           # images A gets right and B wrong (off-diagonal of the paired 2×2 table)
    only_b: int           # images B gets right and A wrong
    low: float            # exact conditional interval of accuracy_b − accuracy_a (see paired_from_counts)
    high: float
    confidence: float
    p_value: float        # McNemar's exact test (two-sided binomial on only_a vs only_b)

    @property
    def difference(self) -> float:
        return self.accuracy_b - self.accuracy_a

    @property
    def within_noise(self) -> bool:
        """True when the interval contains 0: the data cannot tell the two apart. The same as
        p_value ≥ 1 − confidence (the interval and the test are dual, see paired_from_counts)."""
        return self.low <= 0 <= self.high

    def words(self) -> str:
        """e.g. "+1.1 points (95 % CI +0.4 to +1.8), beyond noise"."""
        return (f"{_signed(100 * self.difference)} points ({self.confidence * 100:.0f} % CI "
                f"{_signed(100 * self.low)} to {_signed(100 * self.high)}), "
                + ("within noise" if self.within_noise else "beyond noise"))

    def as_dict(self) -> dict:
        return {**asdict(self), "difference": self.difference, "within_noise": self.within_noise,
                "words": self.words()}


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper & Pearson 1934) interval for a binomial proportion: the lower end is the p at
    which P(X ≥ k) = (1 − c)/2, the upper end the p at which P(X ≤ k) = (1 − c)/2, read off Beta
    quantiles; (0, 1) with no trials."""
    from scipy import stats as scipy_stats  # here, not at import: scipy.stats adds seconds to the app's cold start
    tail = (1 - confidence) / 2
    k, m = successes, trials
    low = 0.0 if k == 0 else float(scipy_stats.beta.ppf(tail, k, m - k + 1))
    high = 1.0 if k == m else float(scipy_stats.beta.ppf(1 - tail, k + 1, m - k))
    return low, high


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: under "the models are equally good" each discordant image
    is a fair coin, so only_b ~ Binomial(only_a + only_b, 1/2); p = min(1, 2 · the smaller tail).

    Two-sided exact tests differ in general (doubling the smaller tail, the "central" p, vs
    summing every outcome no more likely than the one observed, scipy's binomtest): at p = 1/2 the
    binomial is symmetric and the two are the same number. The central p is the one dual to the
    Clopper–Pearson interval: p < 1 − c exactly when that interval at level c excludes 1/2."""
    m = only_a + only_b
    if m == 0:
        return 1.0
    from scipy import stats as scipy_stats
    below, above = scipy_stats.binom.cdf(only_b, m, 0.5), scipy_stats.binom.sf(only_b - 1, m, 0.5)  # P(X ≤ b), P(X ≥ b)
    return float(min(1.0, 2 * min(below, above)))


def paired_from_counts(n: int, both: int, only_a: int, only_b: int,
                       confidence: float = 0.95) -> PairedDifference:
    """Accuracy of B minus A on n images from their paired 2×2 table (both right, only A, only B,
    the rest neither), with an exact interval and McNemar's exact test that always agree.

    Given the m = b + c discordant images (b = only_b, c = only_a), b ~ Binomial(m, p) and the
    difference is (b − c)/n = (m/n)(2p − 1). The interval is the Clopper–Pearson interval for p
    (Clopper & Pearson 1934, Biometrika 26:404) mapped through p ↦ (m/n)(2p − 1): the exact
    conditional approach behind McNemar's exact test (Fagerland, Lydersen & Laake 2013, "The
    McNemar test for binary matched-pairs data: mid-p and asymptotic are better than exact
    conditional", BMC Med Res Methodol 13:91). It excludes 0 exactly when the Clopper–Pearson
    interval excludes 1/2, i.e. exactly when the central two-sided exact p (mcnemar_exact) is below
    1 − confidence: one rule, so "beyond noise" and "McNemar p < 0.05" never disagree
    (tests/test_stats.py checks every table with b + c ≤ 60 and large ones).

    The interval is conditional on m: near a difference of 0 it has the width of the unconditional
    one, away from 0 it leaves out the (small) noise of m itself. Exact conditional methods are
    conservative (Fagerland et al. prefer mid-p for power): "beyond noise" here never claims more
    than the exact test does."""
    if not (n > 0 and min(both, only_a, only_b) >= 0 and both + only_a + only_b <= n):
        raise ValueError(f"Not a paired table of {n} images: both {both}, only A {only_a}, only B {only_b}.")
    if not 0 < confidence < 1:
        raise ValueError(f"The confidence level must lie between 0 and 1 (got {confidence}).")
    m = only_a + only_b
    low, high = 0.0, 0.0  # no discordant image: the two models answer alike on every image
    if m:
        p_low, p_high = clopper_pearson(only_b, m, confidence)
        low, high = m / n * (2 * p_low - 1), m / n * (2 * p_high - 1)
    return PairedDifference(n, (both + only_a) / n, (both + only_b) / n, only_a, only_b, low, high,
                            confidence, mcnemar_exact(only_a, only_b))


def paired_difference(correct_a, correct_b, confidence: float = 0.95) -> PairedDifference:
    """`paired_from_counts` from per-image right/wrong of two models on the same images."""
    a = np.asarray(correct_a, dtype=bool).reshape(-1)
    b = np.asarray(correct_b, dtype=bool).reshape(-1)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"Need the same non-empty set of test images for both models (got {a.size} and {b.size}).")
    return paired_from_counts(a.size, int((a & b).sum()), int((a & ~b).sum()), int((b & ~a).sum()), confidence)


def paired_from_logits(logits_a, logits_b, labels, confidence: float = 0.95) -> PairedDifference:
    """`paired_from_counts` from two models' (N, K) logits on the same labelled images."""
    return paired_difference(correct(logits_a, labels), correct(logits_b, labels), confidence)


@dataclass(frozen=True)
class SeedSpread:
    """Per-seed values (e.g. gains, as fractions) summed up: mean, sample standard deviation and a
    Student-t interval for the mean (None with fewer than two seeds)."""
    values: tuple[float, ...]
    mean: float
    std: float | None
    low: float | None
    high: float | None
    confidence: float

    @property
    def within_noise(self) -> bool:
        return self.low is None or self.low <= 0 <= self.high

    def words(self) -> str:
        """e.g. "+0.9 ± 0.3 points over 5 seeds (95 % CI of the mean +0.5 to +1.3), beyond noise"."""
        k = len(self.values)
        if self.std is None:
            return f"{_signed(100 * self.mean)} points on one seed (repeat over more seeds for a spread)"
        return (f"{_signed(100 * self.mean)} ± {100 * self.std:.1f} points over {k} seeds "
                f"({self.confidence * 100:.0f} % CI of the mean {_signed(100 * self.low)} to "
                f"{_signed(100 * self.high)}), " + ("within noise" if self.within_noise else "beyond noise"))

    def as_dict(self) -> dict:
        return {**asdict(self), "values": list(self.values), "within_noise": self.within_noise,
                "words": self.words()}


def over_seeds(values, confidence: float = 0.95) -> SeedSpread:
    """mean ± t_{(1+c)/2, k−1} · s / √k over k seeds."""
    values = tuple(float(v) for v in values)
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError(f"Need at least one finite value per seed (got {list(values)}).")
    k, mean = len(values), float(np.mean(values))
    if k < 2:
        return SeedSpread(values, mean, None, None, None, confidence)
    std = float(np.std(values, ddof=1))
    from scipy import stats as scipy_stats
    half = float(scipy_stats.t.ppf((1 + confidence) / 2, k - 1)) * std / math.sqrt(k)
    return SeedSpread(values, mean, std, mean - half, mean + half, confidence)


@dataclass(frozen=True)
class SeedAveragedDifference:
    """Model B minus model A on the same n test images, averaged over k seeds (fractions), with
    its interval: `paired_over_seeds`."""
    seeds: int
    n: int
    difference: float
    low: float
    high: float
    confidence: float
    method: str           # "exact" (one seed: paired_from_counts) or "bootstrap" (several)

    @property
    def within_noise(self) -> bool:
        return self.low <= 0 <= self.high

    def words(self) -> str:
        """e.g. "+0.8 points over 3 seeds (95 % CI +0.2 to +1.4), beyond noise"."""
        return (f"{_signed(100 * self.difference)} points over {self.seeds} seed{'s' if self.seeds != 1 else ''} "
                f"({self.confidence * 100:.0f} % CI {_signed(100 * self.low)} to {_signed(100 * self.high)}), "
                + ("within noise" if self.within_noise else "beyond noise"))

    def as_dict(self) -> dict:
        return {**asdict(self), "within_noise": self.within_noise, "words": self.words()}


def paired_over_seeds(correct_a: list, correct_b: list, confidence: float = 0.95, resamples: int = 4000,
                      seed: int = 0) -> SeedAveragedDifference:
    """B − A on the same test images, averaged over seeds: `correct_a[s]`, `correct_b[s]` are seed
    s's (n,) right/wrong per image (pair them: seed s of B against seed s of A).

    One seed: the exact interval of `paired_from_counts`, the lab's one rule for a single paired
    table. Several seeds: per image i, d_i = mean over seeds of (right_B − right_A) ∈ [−1, 1], and a
    paired percentile bootstrap over the images, each image's seeds kept together (the images are
    shared by every seed, so they are the unit to resample; a t-interval over 2-3 per-seed gains has
    1-2 degrees of freedom and says nothing). Seed-averaged differences are where the bootstrap is
    the right tool (issue 15); with few discordant images it is less conservative than the exact
    interval, which is why a single table never uses it."""
    a = [np.asarray(x, dtype=bool).reshape(-1) for x in correct_a]
    b = [np.asarray(x, dtype=bool).reshape(-1) for x in correct_b]
    if not a or len(a) != len(b) or any(x.shape != a[0].shape for x in a + b) or a[0].size == 0:
        raise ValueError(f"Need the same test images for every seed of both models (got {len(a)} and {len(b)} seeds).")
    k, n = len(a), a[0].size
    if k == 1:
        exact = paired_difference(a[0], b[0], confidence)
        return SeedAveragedDifference(1, n, exact.difference, exact.low, exact.high, confidence, "exact")
    d = np.mean([bb.astype(float) - aa.astype(float) for aa, bb in zip(a, b)], axis=0)  # (n,)
    rng = np.random.default_rng(seed)
    means = np.array([d[rng.integers(0, n, n)].mean() for _ in range(resamples)])
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return SeedAveragedDifference(k, n, float(d.mean()), float(low), float(high), confidence, "bootstrap")
