"""How sure a difference is: two models on the same test images, and one gain over seeds.

    paired_difference(correct_a, correct_b)   B − A in accuracy, a paired-bootstrap interval over the
                                              test images and McNemar's exact test on the images
                                              where exactly one of the two is right
    paired_from_counts(n, both, only_a, only_b)   the same from the paired 2×2 table alone
    over_seeds(gains)                         mean ± spread of per-seed values and a t-interval

A 1,000-image test split has a standard error of ~0.75 point near 94 %, and the gains the lab
teaches are 0.5-1.5 points: a difference is shown with its interval, and "within noise" when the
interval contains 0. Both models are scored on the *same* images, so the noise that matters is
that of the paired difference, which depends only on the discordant images (one right, the
other wrong): se ≈ √(b + c) / n for b and c discordant images in each direction.
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
    low: float            # confidence interval of accuracy_b − accuracy_a (paired bootstrap)
    high: float
    confidence: float
    p_value: float        # McNemar's exact test (two-sided binomial on only_a vs only_b)
    resamples: int
    seed: int

    @property
    def difference(self) -> float:
        return self.accuracy_b - self.accuracy_a

    @property
    def within_noise(self) -> bool:
        """True when the interval contains 0: the data cannot tell the two apart."""
        return self.low <= 0 <= self.high

    def words(self) -> str:
        """e.g. "+1.1 points (95 % CI +0.4 to +1.8), beyond noise"."""
        return (f"{_signed(100 * self.difference)} points ({self.confidence * 100:.0f} % CI "
                f"{_signed(100 * self.low)} to {_signed(100 * self.high)}), "
                + ("within noise" if self.within_noise else "beyond noise"))

    def as_dict(self) -> dict:
        return {**asdict(self), "difference": self.difference, "within_noise": self.within_noise,
                "words": self.words()}


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: under "the models are equally good" each discordant image
    is a fair coin, so only_b ~ Binomial(only_a + only_b, 1/2)."""
    if only_a + only_b == 0:
        return 1.0
    from scipy import stats as scipy_stats  # here, not at import: scipy.stats adds seconds to the app's cold start
    return float(scipy_stats.binomtest(only_b, only_a + only_b, 0.5).pvalue)


def paired_difference(correct_a, correct_b, confidence: float = 0.95, resamples: int = 10_000,
                      seed: int = 0) -> PairedDifference:
    """Accuracy of B minus A, with a percentile interval from a paired bootstrap over test images.

    Resampling n images with replacement and counting each kind (only A right: −1, only B right:
    +1, both or neither: 0) is a draw from Multinomial(n, observed shares): drawing the three
    counts directly is the same bootstrap, vectorized, in O(resamples) memory instead of
    O(resamples · n)."""
    a = np.asarray(correct_a, dtype=bool).reshape(-1)
    b = np.asarray(correct_b, dtype=bool).reshape(-1)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"Need the same non-empty set of test images for both models (got {a.size} and {b.size}).")
    return paired_from_counts(a.size, int((a & b).sum()), int((a & ~b).sum()), int((b & ~a).sum()),
                              confidence, resamples, seed)


def paired_from_counts(n: int, both: int, only_a: int, only_b: int, confidence: float = 0.95,
                       resamples: int = 10_000, seed: int = 0) -> PairedDifference:
    """The same from the paired 2×2 table alone (n images: both right, only A, only B, the rest
    neither): all the bootstrap needs, so a stored table gives the same interval as the images."""
    if not (n > 0 and min(both, only_a, only_b) >= 0 and both + only_a + only_b <= n):
        raise ValueError(f"Not a paired table of {n} images: both {both}, only A {only_a}, only B {only_b}.")
    if not 0 < confidence < 1:
        raise ValueError(f"The confidence level must lie between 0 and 1 (got {confidence}).")
    shares = np.array([only_a, n - only_a - only_b, only_b]) / n
    counts = np.random.default_rng(seed).multinomial(n, shares, size=resamples)  # (R, 3)
    differences = (counts[:, 2] - counts[:, 0]) / n
    tail = (1 - confidence) / 2
    low, high = np.quantile(differences, [tail, 1 - tail])
    return PairedDifference(n, (both + only_a) / n, (both + only_b) / n, only_a, only_b, float(low), float(high),
                            confidence, mcnemar_exact(only_a, only_b), resamples, seed)


def paired_from_logits(logits_a, logits_b, labels, **kwargs) -> PairedDifference:
    return paired_difference(correct(logits_a, labels), correct(logits_b, labels), **kwargs)


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
