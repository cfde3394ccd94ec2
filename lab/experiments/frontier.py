"""The cost-quality frontier: how much of the teacher's accuracy a student keeps as it shrinks.

"A 10× smaller student typically keeps 80-95 % of the teacher's quality" is the claim everyone
repeats; this measures it. A ladder of students from ~2× to ~240× fewer parameters than the
teacher (MLPs of several widths and a tiny CNN: few weights but many multiply-adds, so size and
speed do not rank the rungs alike). Each rung, for each seed, trains on labels and distilled from
the same initial weights on the same batches (one stacked run where the architecture stacks).
Then every rung and the teacher are timed in ONE live, interleaved measurement (lab.speed):
latency at batch 1 and throughput at batch 256, on the machine that shows the numbers.

For every rung: `recovered` = distilled accuracy / teacher accuracy (the claim's measure), and
`gap_closed` = (distilled − labels) / (teacher − labels), the share of the labels-only student's
gap to the teacher that distillation closes; `gain` is the paired difference distilled − labels
on the same test images (lab.stats.paired_over_seeds), averaged over seeds.

`gap_closed` divides by the teacher − labels gap: a gap of 0.2 points turns ±0.2 points of noise
into ±100 %. So it is given only when that gap is beyond noise (`gap_to_teacher`, paired on the
same images), with a bootstrap interval (`gap_closed_low`, `gap_closed_high`); otherwise it is None
and `gap_closed_note` says why.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from ..data import Dataset
from ..errors import ConfigError
from ..limits import check_epochs, check_seeds
from ..losses import check_temperature_alpha
from ..models import MODELS, count_macs, count_params, saved_bytes
from ..recipes import DEFAULT_ALPHA, DEFAULT_TEMPERATURE, STUDENT_CONFIG, teacher_train_logits
from ..speed import measure_speed
from ..stats import correct, paired_difference, paired_over_seeds
from .common import Progress, Runs, cached, drive, grid_runs, student_config, test_logits, train_grid

NAME = "frontier"
# Largest to smallest (teacher-cnn on 28×28: 390,634 weights): 1.9×, 5.1×, 10×, 41×, 122×, 244×.
# MLPs stack (one engine run per seed and rung), so the default ladder takes about a minute.
LADDER = ("student-mlp-256", "student-mlp-96", "student-mlp", "student-mlp-12", "student-mlp-4", "student-mlp-2")
# Few weights, many multiply-adds (271× smaller, 7× fewer MACs): size and speed rank it differently.
# BatchNorm: its pairs train one run at a time, ~3× an MLP rung's time; add it with --students.
CNN_RUNG = "student-cnn-tiny"
CLAIM = (0.80, 0.95)  # "a 10× smaller student keeps 80-95 % of the teacher's quality"


@dataclass(frozen=True)
class FrontierConfig:
    students: tuple[str, ...] = LADDER
    temperature: float = DEFAULT_TEMPERATURE
    alpha: float = DEFAULT_ALPHA
    seeds: tuple[int, ...] = (0, 1)
    epochs: int = STUDENT_CONFIG.epochs  # the lesson's schedule: shorter ones hide the MLP's gain
    speed_repeats: int = 9               # interleaved rounds of the speed measurement (median)
    device: str = "auto"

    def __post_init__(self):
        check_temperature_alpha(self.temperature, self.alpha)
        check_seeds(self.seeds)  # the server's limits (lab.limits)
        check_epochs(self.epochs)
        unknown = [s for s in self.students if s not in MODELS]
        if unknown:
            raise ConfigError(f"Unknown student {unknown[0]!r}. Choose from: {', '.join(MODELS)}.")
        if len(self.students) < 1 or len(set(self.students)) != len(self.students):
            raise ConfigError(f"Give at least one student, each once (got {list(self.students)}).")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"Give at least one seed, each different (got {list(self.seeds)}).")
        if self.speed_repeats < 1:
            raise ConfigError(f"The speed measurement needs at least one round (got {self.speed_repeats}).")


def total_runs(dataset: Dataset, config: FrontierConfig) -> int:
    """Engine runs (one per stacked pair, two per pair that does not stack) plus the speed measurement."""
    return sum(len(config.seeds) * grid_runs(arch, dataset, 2) for arch in config.students) + 1


def run(dataset: Dataset, teacher: torch.nn.Module, config: FrontierConfig = FrontierConfig(), stop=None,
        teacher_logits: torch.Tensor | None = None) -> Iterator[Progress]:
    pair = [(config.temperature, 0.0), (config.temperature, config.alpha)]  # labels, distilled
    total = total_runs(dataset, config)
    runs = Runs(NAME, total)

    def body():
        train_logits = teacher_logits
        if train_logits is None:
            train_logits = teacher_train_logits(teacher, dataset, config.device)
        labels = dataset.test_labels.cpu()
        teacher_right = correct(test_logits(teacher, dataset), labels)  # (M,) bool
        teacher_accuracy = float(teacher_right.mean())
        trained = {}
        for arch in config.students:
            hard, distilled = [], []
            for seed in config.seeds:
                students = yield from train_grid(runs, f"{arch} seed={seed}", arch, dataset, seed, pair,
                                                 train_logits, student_config(config.epochs, seed, config.device),
                                                 stop)
                hard.append(correct(test_logits(students[0], dataset), labels))
                distilled.append(correct(test_logits(students[1], dataset), labels))
            trained[arch] = (hard, distilled, students[1])
        yield Progress(NAME, "measuring speed (all models in turn)", runs.index, total)
        models = {"teacher": teacher, **{arch: model for arch, (_, _, model) in trained.items()}}
        speed = measure_speed(models, dataset.shape, repeats=config.speed_repeats)
        runs.index += 1
        rungs = [rung(arch, trained[arch][2], dataset, *trained[arch][:2], teacher_right, speed)
                 for arch in config.students]
        return {"teacher": {"arch": getattr(teacher, "arch", "teacher"), "params": count_params(teacher),
                            "bytes": saved_bytes(teacher), "macs": count_macs(teacher, dataset.shape),
                            "accuracy": teacher_accuracy, "latency_ms_b1": speed.latency_ms["teacher"],
                            "throughput_b256": speed.throughput["teacher"],
                            "cpu_latency_ms_b1": speed.cpu_latency_ms.get("teacher")},
                "rungs": rungs, "dataset": dataset.name, "n_test": len(labels), "seeds": list(config.seeds),
                "temperature": config.temperature, "alpha": config.alpha, "epochs": config.epochs,
                "speed": {"repeats": speed.repeats, "threads": speed.threads, "interleaved": True,
                          "note": "all models in one measurement, round-robin, median of the rounds; "
                                  "latency: ms per image at batch 1 (wall; cpu_latency_ms_b1: the thread's CPU "
                                  "time, less inflated on a crowded machine); throughput: images/s at batch 256, "
                                  "fp32"}}

    yield from drive(NAME, body(), total)


def rung(arch: str, model: torch.nn.Module, dataset: Dataset, hard: list[np.ndarray], distilled: list[np.ndarray],
         teacher_right: np.ndarray, speed) -> dict:
    """One rung's row of frontier.json. `hard`/`distilled`: per seed, (M,) bool right/wrong per test
    image; `teacher_right`: the teacher's (M,) right/wrong on the same images."""
    hard_acc = [float(c.mean()) for c in hard]
    dist_acc = [float(c.mean()) for c in distilled]
    hard_mean, dist_mean = statistics.fmean(hard_acc), statistics.fmean(dist_acc)
    teacher_accuracy = float(np.mean(teacher_right))
    paired = [paired_difference(h, d) for h, d in zip(hard, distilled)]  # per seed: the 2×2 table's off-diagonal
    gain = paired_over_seeds(hard, distilled)
    gap = paired_over_seeds(hard, [teacher_right] * len(hard))  # teacher − labels, on the same images
    return {"arch": arch, "params": count_params(model), "bytes": saved_bytes(model),
            "macs": count_macs(model, dataset.shape),
            "latency_ms_b1": speed.latency_ms[arch], "throughput_b256": speed.throughput[arch],
            "cpu_latency_ms_b1": speed.cpu_latency_ms.get(arch),
            "hard_accuracies": hard_acc, "distilled_accuracies": dist_acc,
            "hard_mean": hard_mean, "distilled_mean": dist_mean,
            "hard_spread": max(hard_acc) - min(hard_acc), "distilled_spread": max(dist_acc) - min(dist_acc),
            "recovered": dist_mean / teacher_accuracy, "recovered_labels": hard_mean / teacher_accuracy,
            "gap_to_teacher": gap.as_dict(),
            **gap_closed(hard, distilled, teacher_right, gap),
            "gain": gain.difference, "gain_low": gain.low, "gain_high": gain.high,
            "gain_within_noise": gain.within_noise, "gain_words": gain.words(),
            "discordant": {"only_labels_right": sum(p.only_a for p in paired),
                           "only_distilled_right": sum(p.only_b for p in paired)}}


def gap_closed(hard: list[np.ndarray], distilled: list[np.ndarray], teacher_right: np.ndarray, gap,
               confidence: float = 0.95, resamples: int = 4000, seed: int = 0) -> dict:
    """(distilled − labels) / (teacher − labels), seeds averaged, with a paired bootstrap interval over
    the test images (each image keeps its seeds and its teacher answer together; a ratio has no exact
    interval). Only where the teacher − labels gap (`gap`, lab.stats.paired_over_seeds) is beyond
    noise and positive: divided by a gap the data cannot tell from 0, any share is noise."""
    if gap.within_noise or gap.difference <= 0:
        note = (f"the teacher − labels gap is {gap.words()}: the share of it distillation closes cannot be "
                "measured" if gap.within_noise else
                f"the student on labels alone beats the teacher ({gap.words()}): there is no gap to close")
        return {"gap_closed": None, "gap_closed_low": None, "gap_closed_high": None, "gap_closed_note": note}
    g = np.mean([d.astype(float) - h.astype(float) for h, d in zip(hard, distilled)], axis=0)  # (M,) gain
    t = np.mean([teacher_right.astype(float) - h.astype(float) for h in hard], axis=0)        # (M,) gap
    rng = np.random.default_rng(seed)
    ratios = []
    for _ in range(resamples):
        i = rng.integers(0, len(g), len(g))
        gap_sum = t[i].sum()
        if gap_sum > 0:
            ratios.append(g[i].sum() / gap_sum)
    tail = (1 - confidence) / 2
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return {"gap_closed": float(g.sum() / t.sum()), "gap_closed_low": float(low), "gap_closed_high": float(high),
            "gap_closed_note": ""}


def seed_averaged_interval(hard: list[np.ndarray], distilled: list[np.ndarray], confidence: float = 0.95,
                           resamples: int = 4000, seed: int = 0) -> tuple[float, float, float]:
    """(gain, low, high) of distilled − labels averaged over seeds: lab.stats.paired_over_seeds (the
    exact paired interval for one seed, a paired bootstrap over the images for several)."""
    d = paired_over_seeds(hard, distilled, confidence, resamples, seed)
    return d.difference, d.low, d.high


def experiment(dataset: Dataset, teacher: torch.nn.Module, config: FrontierConfig = FrontierConfig(), stop=None,
               use_cache: bool = True) -> Iterator[Progress]:
    """`run`, cached by config, dataset and teacher. A cached result keeps the speeds measured when it
    ran (`speed` says so); press Run again to time the models on the machine as it is now."""
    return cached(NAME, config, dataset, [teacher], lambda: run(dataset, teacher, config, stop), use_cache)


# ---------------------------------------------------------------- reading a result

def pareto_front(result: dict, cost: str = "params", which: str = "distilled") -> list[str]:
    """The rungs no other rung beats on both cost (lower `params`/`latency_ms_b1`/`macs`) and
    mean accuracy (`which`: "distilled" or "hard"), cheapest first."""
    key = f"{which}_mean"
    rungs = sorted(result["rungs"], key=lambda r: (r[cost], -r[key]))
    front, best = [], -1.0
    for r in rungs:
        if r[key] > best:
            front.append(r["arch"])
            best = r[key]
    return front


def smallest_within(result: dict, points: float, which: str = "distilled") -> dict | None:
    """The rung with the fewest parameters whose mean accuracy is within `points` (percentage
    points) of the teacher's; None when no rung is that close."""
    floor = result["teacher"]["accuracy"] - points / 100
    close = [r for r in result["rungs"] if r[f"{which}_mean"] >= floor - 1e-12]
    return min(close, key=lambda r: r["params"]) if close else None


def claim_sentence(result: dict) -> str:
    """The measured frontier against "a 10× smaller student keeps 80-95 % of the teacher's quality"."""
    teacher = result["teacher"]
    rungs = result["rungs"]
    near = min(rungs, key=lambda r: abs(np.log(teacher["params"] / r["params"]) - np.log(10)))
    ratio = teacher["params"] / near["params"]
    kept = near["recovered"]
    where = ("inside" if CLAIM[0] <= kept <= CLAIM[1] else "above" if kept > CLAIM[1] else "below")
    errors = (1 - near["distilled_mean"]) / max(1 - teacher["accuracy"], 1e-9)
    closed = near["gap_closed"]
    moved = 100 * (near["distilled_mean"] - near["hard_mean"])
    if closed is None:
        closes = f"; {near['gap_closed_note']}" if near.get("gap_closed_note") else ""
    elif closed >= 0.005:
        interval = (f" (95 % CI {near['gap_closed_low']:.0%} to {near['gap_closed_high']:.0%})"
                    if near.get("gap_closed_low") is not None else "")
        closes = (f"; distillation closes {closed:.0%}{interval} of the gap between it on labels alone and "
                  "the teacher")
    else:
        closes = (f"; distillation closes none of the gap between it on labels alone and the teacher "
                  f"({'' if abs(moved) < 0.05 else '+' if moved > 0 else '−'}{abs(moved):.1f} points)")
    smallest = min(rungs, key=lambda r: r["params"])
    return (f"On {result.get('dataset', 'this dataset')} the {ratio:.0f}× smaller student ({near['arch']}) keeps "
            f"{kept:.1%} of the teacher's accuracy distilled ({near['recovered_labels']:.1%} on labels alone): "
            f"{where} the 80-95 % the claim gives{closes}. Counted in errors it makes {errors:.1f}× the "
            f"teacher's; even the {teacher['params'] / smallest['params']:.0f}× smaller {smallest['arch']} keeps "
            f"{smallest['recovered']:.0%}. A share of accuracy flatters a student when the teacher makes few "
            "errors: look at the errors and at the gap closed too.")
