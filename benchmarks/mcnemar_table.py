"""The "beyond noise" rule (lab.stats.paired_from_counts) against McNemar's exact test on every
paired table with b + c ≤ 60 discordant images: for each b + c, the smallest |b − c| called beyond
noise by the interval, by the central exact p (lab.stats.mcnemar_exact), by scipy's binomtest, and
(for contrast) by the paired percentile bootstrap it replaced (on 1,000 images, 10,000 resamples,
seed 0). Prints a Markdown table; with a path, writes it there too.

    python benchmarks/mcnemar_table.py [out.md]
"""
import sys
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the lab of this checkout
from lab.stats import paired_from_counts

N, LEVEL, MAX_DISCORDANT = 1000, 0.05, 60


def old_bootstrap_beyond(only_a: int, only_b: int, n: int = N, resamples: int = 10_000, seed: int = 0) -> bool:
    """The rule before issue 15: a percentile interval from Multinomial(n, observed shares) excludes 0."""
    shares = np.array([only_a, n - only_a - only_b, only_b]) / n
    counts = np.random.default_rng(seed).multinomial(n, shares, size=resamples)
    low, high = np.quantile((counts[:, 2] - counts[:, 0]) / n, [0.025, 0.975])
    return not (low <= 0 <= high)


def smallest(gaps: list[int]) -> str:
    return str(min(gaps)) if gaps else "—"


def table() -> tuple[str, int, int]:
    rows = ["| b + c | smallest \\|b − c\\| beyond noise: interval | central exact p < 0.05 | scipy binomtest p < 0.05 "
            "| old bootstrap (n = 1,000) | tables | disagreements |",
            "|---:|---:|---:|---:|---:|---:|---:|"]
    tables = disagreements = 0
    for m in range(1, MAX_DISCORDANT + 1):
        interval, central, scipy_p, old, bad = [], [], [], [], 0
        for b in range(m + 1):
            c = m - b
            d = paired_from_counts(N, 0, c, b)
            gap = abs(b - c)
            beyond = not d.within_noise
            interval += [gap] * beyond
            central += [gap] * bool(d.p_value < LEVEL)
            scipy_reject = bool(scipy_stats.binomtest(b, m, 0.5).pvalue < LEVEL)
            scipy_p += [gap] * scipy_reject
            old += [gap] * old_bootstrap_beyond(c, b)
            bad += beyond != (d.p_value < LEVEL) or beyond != scipy_reject
            tables += 1
        disagreements += bad
        rows.append(f"| {m} | {smallest(interval)} | {smallest(central)} | {smallest(scipy_p)} | {smallest(old)} "
                    f"| {m + 1} | {bad} |")
    return "\n".join(rows), tables, disagreements


if __name__ == "__main__":
    text, tables, disagreements = table()
    text = (f"{text}\n\n{tables} tables (b, c) with 1 ≤ b + c ≤ {MAX_DISCORDANT} on n = {N:,} images: "
            f"{disagreements} where the 95 % interval's verdict differs from McNemar's exact test at 0.05.\n"
            "(— : no split of that many discordant images is beyond noise.)\n")
    print(text)
    if len(sys.argv) > 1:
        open(sys.argv[1], "w").write(text)
