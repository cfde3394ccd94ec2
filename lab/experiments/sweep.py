"""Temperature × blend sweep: test accuracy of one student over a grid of (T, α), several seeds.

Every cell of a seed starts from the same initial weights (the seed's `init_model`) and sees
the same batches, so differences between cells are the loss's doing, not luck. α = 0 is
label-only training whatever T is: that column *is* the hard-label baseline, trained once per
seed and reused (`hard_label_accuracies`). A BatchNorm-free student (student-mlp) trains all of
a seed's cells at once as one stacked model (common.train_grid); CNN students train one by one
(the default grid: 52 runs, ~10 min on one core) — give them a smaller grid (e.g. --temperatures
1,4,16 --alphas 0,0.5,0.9).

Hinton et al. 2015 found that very small students prefer T ≈ 2.5-4 while larger ones
tolerate T > 8: run it for two student sizes and compare where the best cell lands.

No winner's curse: the largest of ~30 noisy means, scored on the images it was picked on, is
biased upwards. Every cell is reported on all test images with its paired gain over the labels-only
student and that gain's interval (lab.stats.paired_over_seeds); the `best` cell is *chosen* on a
stratified half of the test images (`selection_size`) and its accuracy and gain are *reported* on
the other half only (`report_size`), as the ensemble experiment picks its best teacher. On a tie
the labels-only baseline stays the choice: a distilled cell must do better to be named.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from ..data import Dataset
from ..errors import ConfigError
from ..limits import MAX_GRID_CELLS, check_count, check_epochs, check_seeds
from ..losses import check_temperature_alpha
from ..metrics import accuracy
from ..models import DEFAULT_STUDENT
from ..recipes import STUDENT_CONFIG, teacher_train_logits
from ..stats import correct, paired_over_seeds
from .common import (Progress, Runs, cached, drive, grid_runs, student_config, test_logits,
                     train_grid)
from .ensemble import selection_split

NAME = "sweep"
SELECTION_FRACTION = 0.5  # of the test images (stratified), to choose the best cell on: never reported
SELECTION_SEED = 0        # one split for every seed and every cell


@dataclass(frozen=True)
class SweepConfig:
    student: str = DEFAULT_STUDENT
    temperatures: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
    alphas: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)
    seeds: tuple[int, ...] = (0, 1)
    # The Distill page's full schedule: at 6 epochs an MLP student gains nothing from the teacher
    # on mnist-sample, at 30 it gains about a point. Stacked, a seed's 26 students train in one
    # run (~20 s on one core), so the default grid takes well under a minute (EXPERIMENTS.md).
    epochs: int = STUDENT_CONFIG.epochs
    device: str = "auto"

    def __post_init__(self):
        if not (self.temperatures and self.alphas and self.seeds):
            raise ConfigError("The sweep needs at least one temperature, one alpha and one seed.")
        for name in ("temperatures", "alphas", "seeds"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ConfigError(f"The {name} must differ from each other (got {list(values)}).")
        for t in self.temperatures:
            for a in self.alphas:
                check_temperature_alpha(t, a)
        check_count("T × α cells", len(self.temperatures) * len(self.alphas), MAX_GRID_CELLS)
        check_seeds(self.seeds)
        check_epochs(self.epochs)


def run(dataset: Dataset, teacher: torch.nn.Module, config: SweepConfig = SweepConfig(), stop=None,
        teacher_logits: torch.Tensor | None = None) -> Iterator[Progress]:
    # Per seed: the hard-label baseline plus one student per cell with α > 0 (α = 0 cells reuse it).
    cells = [(1.0, 0.0)] + [(t, a) for t in config.temperatures for a in config.alphas if a > 0]
    total = len(config.seeds) * grid_runs(config.student, dataset, len(cells))
    runs = Runs(NAME, total)

    def body():
        train_logits = teacher_logits
        if train_logits is None:  # (only the training logits: the teacher's test logits are not needed here)
            train_logits = teacher_train_logits(teacher, dataset, config.device)
        labels = dataset.test_labels.cpu()
        accuracies: dict[tuple[float, float], list[float]] = {}
        right: dict[tuple[float, float], list[np.ndarray]] = {}  # per cell, per seed: (M,) right/wrong
        hard = []
        for seed in config.seeds:
            students = yield from train_grid(runs, f"seed={seed}", config.student, dataset, seed, cells,
                                             train_logits, student_config(config.epochs, seed, config.device), stop)
            logits = [test_logits(s, dataset) for s in students]
            trained = {cell: (accuracy(z, labels), correct(z, labels)) for cell, z in zip(cells[1:], logits[1:])}
            hard.append(accuracy(logits[0], labels))
            hard_right = correct(logits[0], labels)
            for t in config.temperatures:
                for a in config.alphas:
                    acc, ok = (hard[-1], hard_right) if a == 0 else trained[(t, a)]
                    accuracies.setdefault((t, a), []).append(acc)
                    right.setdefault((t, a), []).append(ok)
            right.setdefault("labels", []).append(hard_right)
        return summarize(config, hard, accuracies, right, labels)

    yield from drive(NAME, body(), total)


def summarize(config: SweepConfig, hard: list[float], accuracies: dict, right: dict, labels: torch.Tensor) -> dict:
    """`accuracies[(T, α)]`: per seed, test accuracy; `right[(T, α)]` (and `right["labels"]`): per seed,
    (M,) right/wrong per test image, the same seed's students paired."""
    cells = []
    for t in config.temperatures:
        for a in config.alphas:
            gain = paired_over_seeds(right["labels"], right[(t, a)])  # over every test image: no choice made
            cells.append({"temperature": t, "alpha": a, "accuracies": accuracies[(t, a)],
                          "mean": statistics.fmean(accuracies[(t, a)]),
                          "spread": max(accuracies[(t, a)]) - min(accuracies[(t, a)]),
                          "gain": gain.difference, "gain_low": gain.low, "gain_high": gain.high,
                          "gain_within_noise": gain.within_noise})
    return {"student": config.student, "epochs": config.epochs,
            "temperatures": list(config.temperatures), "alphas": list(config.alphas), "seeds": list(config.seeds),
            "hard_label_accuracies": hard, "hard_label_mean": statistics.fmean(hard), "cells": cells,
            "gain_method": "exact" if len(config.seeds) == 1 else "bootstrap",
            "best": choose_and_report(config, right, labels),
            "note": "alpha = 0 trains on labels only, so its cells repeat the hard-label baseline."}


def choose_and_report(config: SweepConfig, right: dict, labels: torch.Tensor) -> dict:
    """The best cell chosen on the selection half of the test images (mean accuracy over seeds),
    its accuracy and its gain over labels only reported on the other half. The candidates are the
    labels-only baseline, then every cell with α > 0 in grid order; the first of equals wins."""
    selection, report = (i.numpy() for i in selection_split(labels.cpu(), SELECTION_FRACTION, SELECTION_SEED))

    def mean_on(key, images):
        return statistics.fmean(float(ok[images].mean()) for ok in right[key])
    candidates = ["labels"] + [(t, a) for t in config.temperatures for a in config.alphas if a > 0]
    scores = [mean_on(key, selection) for key in candidates]
    chosen = candidates[max(range(len(candidates)), key=lambda i: scores[i])]
    gain = paired_over_seeds([ok[report] for ok in right["labels"]], [ok[report] for ok in right[chosen]])
    t, a = (None, 0.0) if chosen == "labels" else chosen
    return {"temperature": t, "alpha": a, "labels_only": chosen == "labels",
            "selection_size": len(selection), "report_size": len(report),
            "selection_accuracy": scores[candidates.index(chosen)],
            "report_accuracy": mean_on(chosen, report), "labels_report_accuracy": mean_on("labels", report),
            "gain": gain.difference, "gain_low": gain.low, "gain_high": gain.high,
            "gain_within_noise": gain.within_noise, "gain_words": gain.words()}


def experiment(dataset: Dataset, teacher: torch.nn.Module, config: SweepConfig = SweepConfig(), stop=None,
               use_cache: bool = True) -> Iterator[Progress]:
    """`run`, but a finished result is cached on disk and returned at once next time."""
    return cached(NAME, config, dataset, [teacher], lambda: run(dataset, teacher, config, stop), use_cache)


def grid(result: dict) -> list[list[float]]:
    """Mean accuracy as a (len(temperatures), len(alphas)) grid, for a heatmap."""
    means = {(c["temperature"], c["alpha"]): c["mean"] for c in result["cells"]}
    return [[means[(t, a)] for a in result["alphas"]] for t in result["temperatures"]]
