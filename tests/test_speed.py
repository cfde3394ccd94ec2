"""lab.speed and the verdict's speed claim: the structure of a fair measurement (interleaved,
every model the same number of samples), and the claim against this file's own timing of two
models whose costs differ ~100× by construction (no absolute timing: those go in benchmarks/suite.py)."""
import re
import statistics
import time

import numpy as np
import pytest
import torch
from torch import nn

from lab.compare import comparison_row, verdict
from lab.models import build
from lab.speed import SpeedMeasurement, measure_speed
from lab.stats import paired_difference


LOG = []  # module-level: measure_speed deep-copies the models, and the copies must log here too


class Logged(nn.Module):
    """A model that writes (its name, batch size) to LOG on every forward call."""

    def __init__(self, name: str):
        super().__init__()
        self.name, self.linear = name, nn.Linear(4, 3)

    def forward(self, x):
        LOG.append((self.name, len(x)))
        return self.linear(x.flatten(1))


def test_models_are_measured_round_robin_the_same_number_of_times():
    LOG.clear()
    models = {n: Logged(n) for n in ("teacher", "hard", "distilled")}
    calls = {1: 3, 8: 2}
    speed = measure_speed(models, (1, 2, 2), repeats=4, batches=(1, 8), calls_per_sample=calls)
    warmup, timed = LOG[:6], LOG[6:]
    assert sorted(warmup) == sorted([(n, b) for n in models for b in (1, 8)])  # one warm-up call each
    samples = []  # read the calls back as samples: a sample is `calls[b]` identical calls in a row
    while timed:
        name, b = timed[0]
        assert timed[:calls[b]] == [(name, b)] * calls[b]
        samples.append((b, name))
        timed = timed[calls[b]:]
    # Every model: 4 samples at each batch size. Interleaved: per round, one sample of every
    # model at batch 1, then at batch 8; the first model of a round rotates.
    assert len(samples) == 4 * 2 * 3
    for n in models:
        assert samples.count((1, n)) == 4 and samples.count((8, n)) == 4
    firsts = []
    for r in range(4):
        chunk = samples[r * 6:(r + 1) * 6]
        assert [b for b, _ in chunk] == [1, 1, 1, 8, 8, 8]
        assert sorted(n for _, n in chunk[:3]) == sorted(models) == sorted(n for _, n in chunk[3:])
        firsts.append(chunk[0][1])
    assert firsts == ["teacher", "hard", "distilled", "teacher"]
    assert speed.order == samples  # what it says it measured is what it ran
    assert speed.repeats == 4 and set(speed.latency_ms) == set(models) == set(speed.throughput)
    assert set(speed.cpu_latency_ms) == set(models) and all(v >= 0 for v in speed.cpu_latency_ms.values())


def test_originals_are_left_alone():
    model = build("student-mlp", (1, 28, 28), 10).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    measure_speed({"s": model}, (1, 28, 28), repeats=2)
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="at least one model"):
        measure_speed({}, (1, 28, 28))


def chain(layers: int) -> nn.Module:
    """A batch-1 MLP whose cost grows with `layers` small layers: cost ratios are fixed by design
    (300 layers vs none: ~100× the work and per-call overhead), whatever the machine."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), *[nn.Linear(32, 32) for _ in range(layers)],
                         nn.Linear(32, 10)).eval()


@torch.inference_mode()
def independent_ratio(slow: nn.Module, fast: nn.Module, rounds: int = 9, calls: int = 20) -> float:
    """slow / fast batch-1 time, measured here with perf_counter apart from lab.speed: both models
    take turns (who goes first alternates), the median per model."""
    x = torch.randn(1, 1, 28, 28)
    times = {"slow": [], "fast": []}
    for r in range(rounds):
        for name in (("slow", "fast") if r % 2 == 0 else ("fast", "slow")):
            model = slow if name == "slow" else fast
            start = time.perf_counter()
            for _ in range(calls):
                model(x)
            times[name].append((time.perf_counter() - start) / calls)
    return statistics.median(times["slow"]) / statistics.median(times["fast"])


def shown_ratio(text: str, word: str) -> float:
    found = re.search(rf"answers (\d+(?:\.\d)?)× {word} per image", text)
    assert found, text
    return float(found.group(1))


def test_the_verdicts_ratio_agrees_with_an_independent_timing_of_the_same_models():
    """The verdict's speed claim against this test's own interleaved timing of the same two models.
    Their cost differs ~100× by construction, so the claim is unambiguous on every path; the
    agreement allowed (a factor of 3) absorbs a loaded machine, not a stale source: the cards'
    stored latencies say the student is 100× *slower*, and the verdict must not follow them."""
    shape = (1, 28, 28)
    slow, fast = chain(300), chain(0)
    teacher = {"test_accuracy": 0.99, "params": 390_000, "latency_ms": 0.01}
    student = {"test_accuracy": 0.95, "params": 14_400, "latency_ms": 1.0}
    speed = measure_speed({"teacher": slow, "distilled": fast}, shape, repeats=5, batches=(1,))
    mine = independent_ratio(slow, fast)
    assert mine > 20  # the two models differ as built (else the test measures nothing)
    text = verdict(teacher, student, student, speed=speed)
    faster = shown_ratio(text, "faster")
    assert faster == round(speed.speedup("teacher", "distilled"))  # ≥ 10×: shown as a whole number
    assert mine / 3 < faster < 3 * mine, (faster, mine)
    # The roles swapped: the student is the slow model and the verdict says so, by the same factor.
    swapped = measure_speed({"teacher": fast, "distilled": slow}, shape, repeats=5, batches=(1,))
    mine = independent_ratio(slow, fast)
    slower = shown_ratio(verdict(teacher, student, student, speed=swapped), "slower")
    assert mine / 3 < slower < 3 * mine, (slower, mine)
    assert "faster" not in verdict(teacher, student, student)  # no live measurement: no speed claim


def test_verdict_speed_words_by_hand():
    hand = SpeedMeasurement(["teacher", "distilled"], {"teacher": 0.22, "distilled": 0.0147},
                            {"teacher": 5_000.0, "distilled": 90_000.0}, 9, {1: 10, 256: 1})
    teacher = {"test_accuracy": 0.99, "params": 390_000}
    student = {"test_accuracy": 0.95, "params": 14_400}
    assert "answers 15× faster per image than the teacher (measured just now" in verdict(teacher, student, student,
                                                                                        speed=hand)
    assert "CPU time" not in verdict(teacher, student, student, speed=hand)  # no CPU times: nothing to add
    crowded = SpeedMeasurement(["teacher", "distilled"], {"teacher": 3.5, "distilled": 0.04}, {}, 9, {}, threads=1,
                               cpu_latency_ms={"teacher": 0.88, "distilled": 0.04})
    text = verdict(teacher, student, student, speed=crowded)
    assert "answers 88× faster" in text and "in CPU time, which other jobs on the machine cannot inflate, 22×" in text
    slow = SpeedMeasurement(["teacher", "distilled"], {"teacher": 0.1, "distilled": 0.25}, {}, 9, {})
    assert "2.5× slower" in verdict(teacher, student, student, speed=slow)
    row = comparison_row("t", "teacher", {**teacher, "latency_ms": 7.61}, speed=hand)
    assert (row["latency_ms"], row["images_per_s"], row["recorded_latency_ms"]) == (0.22, 5_000.0, 7.61)
    assert comparison_row("t", "teacher", {**teacher, "latency_ms": 7.61})["latency_ms"] is None


def correctness(only_a, only_b, both, neither):
    a = [True] * only_a + [False] * only_b + [True] * both + [False] * neither
    b = [False] * only_a + [True] * only_b + [True] * both + [False] * neither
    return np.array(a), np.array(b)


def test_verdict_names_no_winner_within_noise():
    teacher = {"test_accuracy": 0.99, "params": 390_000}
    hard, distilled = {"test_accuracy": 0.940, "params": 14_400}, {"test_accuracy": 0.943, "params": 14_400}
    within = paired_difference(*correctness(20, 23, 920, 37))          # +0.3 point on 1,000 images
    text = verdict(teacher, hard, distilled, paired=within)
    assert "within noise" in text and "points better" not in text and "points worse" not in text
    assert "1,000 test images" in text
    beyond = paired_difference(*correctness(10, 40, 900, 50))          # +3.0 points, se ≈ 0.7
    text = verdict(teacher, hard, {**distilled, "test_accuracy": 0.97}, paired=beyond)
    assert "3.0 points better than the same student trained on labels alone (95 % CI +" in text
    assert "beyond noise" in text
    worse = paired_difference(*correctness(40, 10, 900, 50))
    assert "3.0 points worse" in verdict(teacher, hard, distilled, paired=worse)
    assert "noise is unknown" in verdict(teacher, hard, distilled)  # no per-image predictions: no winner


def test_a_pair_jobs_stored_table_gives_the_interval_of_its_images():
    from lab.serve.classroom import paired_counts
    from lab.compare import stored_pair_difference
    from lab.stats import paired_from_logits
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (500,), generator=generator)
    hard, distilled = (torch.randn(500, 10, generator=generator) + 3 * nn.functional.one_hot(labels, 10)
                       for _ in range(2))
    stored = {"paired": paired_counts(labels, hard, distilled)}
    assert stored_pair_difference(stored) == paired_from_logits(hard, distilled, labels)
    assert stored_pair_difference({}) is None and stored_pair_difference({"paired": {"n": 3}}) is None
