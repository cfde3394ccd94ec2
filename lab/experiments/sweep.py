"""Temperature × blend sweep: test accuracy of one student over a grid of (T, α), several seeds.

Every cell of a seed starts from the same initial weights (the seed's `init_model`) and sees
the same batches, so differences between cells are the loss's doing, not luck. α = 0 is
label-only training whatever T is: that column *is* the hard-label baseline, trained once per
seed and reused (`hard_label_accuracies`).

Hinton et al. 2015 found that very small students prefer T ≈ 2.5-4 while larger ones
tolerate T > 8: run it for two student sizes and compare where the best cell lands.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Iterator

import torch

from ..data import Dataset
from ..losses import HardLabels, SoftTargets, check_temperature_alpha
from ..metrics import accuracy
from ..models import DEFAULT_STUDENT
from .common import Progress, Runs, cached, cached_teacher_logits, drive, fresh_student, student_config, test_logits

NAME = "sweep"


@dataclass(frozen=True)
class SweepConfig:
    student: str = DEFAULT_STUDENT
    temperatures: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
    alphas: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)
    seeds: tuple[int, ...] = (0, 1)
    epochs: int = 6           # half the Distill page's schedule: the whole grid in about a minute
    device: str = "auto"

    def __post_init__(self):
        for t in self.temperatures:
            for a in self.alphas:
                check_temperature_alpha(t, a)
        assert self.temperatures and self.alphas and self.seeds, "empty grid"


def run(dataset: Dataset, teacher: torch.nn.Module, config: SweepConfig = SweepConfig(), stop=None,
        teacher_logits: torch.Tensor | None = None) -> Iterator[Progress]:
    distilled_alphas = [a for a in config.alphas if a > 0]
    total = len(config.seeds) * (1 + len(config.temperatures) * len(distilled_alphas))
    runs = Runs(NAME, total)

    def body():
        train_logits = teacher_logits
        if train_logits is None:
            train_logits, _ = cached_teacher_logits(teacher, dataset, config.device)
        accuracies: dict[tuple[float, float], list[float]] = {}
        hard = []
        for seed in config.seeds:
            train_config = student_config(config.epochs, seed, config.device)
            result = yield from runs.train(f"labels seed={seed}", fresh_student(config.student, dataset, seed),
                                           dataset, HardLabels(), train_config, stop)
            hard.append(accuracy(test_logits(result.model, dataset), dataset.test_labels.cpu()))
            for t in config.temperatures:
                for a in config.alphas:
                    if a == 0:  # labels only: identical to the baseline run
                        accuracies.setdefault((t, a), []).append(hard[-1])
                        continue
                    objective = SoftTargets(t, a, teacher_logits=train_logits)
                    result = yield from runs.train(f"T={t:g} alpha={a:g} seed={seed}",
                                                   fresh_student(config.student, dataset, seed),
                                                   dataset, objective, train_config, stop)
                    accuracies.setdefault((t, a), []).append(
                        accuracy(test_logits(result.model, dataset), dataset.test_labels.cpu()))
        return summarize(config, hard, accuracies)

    yield from drive(NAME, body(), total)


def summarize(config: SweepConfig, hard: list[float], accuracies: dict) -> dict:
    cells = [{"temperature": t, "alpha": a, "accuracies": accuracies[(t, a)],
              "mean": statistics.fmean(accuracies[(t, a)]),
              "spread": max(accuracies[(t, a)]) - min(accuracies[(t, a)])}
             for t in config.temperatures for a in config.alphas]
    best = max(cells, key=lambda c: c["mean"])
    return {"student": config.student, "epochs": config.epochs,
            "temperatures": list(config.temperatures), "alphas": list(config.alphas), "seeds": list(config.seeds),
            "hard_label_accuracies": hard, "hard_label_mean": statistics.fmean(hard), "cells": cells,
            "best": {"temperature": best["temperature"], "alpha": best["alpha"], "mean": best["mean"]},
            "note": "alpha = 0 trains on labels only, so its cells repeat the hard-label baseline."}


def experiment(dataset: Dataset, teacher: torch.nn.Module, config: SweepConfig = SweepConfig(), stop=None,
               use_cache: bool = True) -> Iterator[Progress]:
    """`run`, but a finished result is cached on disk and returned at once next time."""
    return cached(NAME, config, dataset, [teacher], lambda: run(dataset, teacher, config, stop), use_cache)


def grid(result: dict) -> list[list[float]]:
    """Mean accuracy as a (len(temperatures), len(alphas)) grid, for a heatmap."""
    means = {(c["temperature"], c["alpha"]): c["mean"] for c in result["cells"]}
    return [[means[(t, a)] for a in result["alphas"]] for t in result["temperatures"]]
