"""Data efficiency: hard-label vs distilled students on growing fractions of the training set.

A label says one thing per image ("this is a 7"); the teacher's soft targets also say how
much it looks like a 1 or a 9 — more information per example, so the distilled student should
need fewer examples for the same accuracy. Subsets are stratified (the same share of every
class) and nested by seed. Every run takes the same number of optimizer steps as a full-data
run, so a small subset is not also a short training run; both students of a fraction start from
the same initial weights and train side by side (one stacked run for student-mlp).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import torch

from ..data import Dataset
from ..errors import ConfigError
from ..limits import MAX_FRACTIONS, check_count, check_epochs, check_seeds, subset_epoch_limit
from ..losses import check_temperature_alpha
from ..metrics import accuracy
from ..models import DEFAULT_STUDENT
from ..recipes import DEFAULT_ALPHA, DEFAULT_TEMPERATURE, STUDENT_CONFIG, teacher_train_logits
from .common import (Progress, Runs, cached, drive, grid_runs, stratified_subset,
                     student_config, test_logits, train_grid)

NAME = "transfer-size"


@dataclass(frozen=True)
class TransferSizeConfig:
    fractions: tuple[float, ...] = (0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
    student: str = DEFAULT_STUDENT
    temperature: float = DEFAULT_TEMPERATURE
    alpha: float = DEFAULT_ALPHA
    seeds: tuple[int, ...] = (0, 1)  # small subsets are noisy: two draws (and inits) per fraction
    # On the full set; smaller sets get more epochs for the same steps. The lab's 30: shorter
    # schedules hide the gain of distillation on the larger fractions (see sweep.py).
    epochs: int = STUDENT_CONFIG.epochs
    device: str = "auto"

    def __post_init__(self):
        check_temperature_alpha(self.temperature, self.alpha)
        if not self.fractions or not all(0 < f <= 1 for f in self.fractions):
            raise ConfigError(f"Fractions of the training set must lie in (0, 1] (got {self.fractions}).")
        if len(set(self.fractions)) != len(self.fractions):
            raise ConfigError(f"The fractions must differ from each other (got {list(self.fractions)}).")
        check_count("fractions", len(self.fractions), MAX_FRACTIONS)
        check_seeds(self.seeds)
        check_epochs(self.epochs)


def epochs_for(n: int, full_n: int, full_epochs: int, batch_size: int) -> int:
    """Epochs that give a subset of n images the optimizer steps of `full_epochs` on all of them."""
    steps_per_epoch = max(n // batch_size, 1)
    full_steps = max(full_n // batch_size, 1) * full_epochs
    return max(1, math.ceil(full_steps / steps_per_epoch))


def run(dataset: Dataset, teacher: torch.nn.Module, config: TransferSizeConfig = TransferSizeConfig(), stop=None,
        teacher_logits: torch.Tensor | None = None) -> Iterator[Progress]:
    pair = [(config.temperature, 0.0), (config.temperature, config.alpha)]  # labels, distilled
    total = len(config.fractions) * len(config.seeds) * grid_runs(config.student, dataset, len(pair))
    runs = Runs(NAME, total)

    def body():
        train_logits = teacher_logits
        if train_logits is None:  # (only the training logits: the teacher's test logits are not needed here)
            train_logits = teacher_train_logits(teacher, dataset, config.device)
        labels = dataset.test_labels.cpu()
        hard = {f: [] for f in config.fractions}
        distilled = {f: [] for f in config.fractions}
        sizes = {}
        for seed in config.seeds:
            for f in config.fractions:
                index = stratified_subset(dataset.train_labels, f, seed)
                sizes[f] = len(index)
                batch_size = student_config(config.epochs).batch_size
                epochs = epochs_for(len(index), len(dataset.train_labels), config.epochs, batch_size)
                limit = subset_epoch_limit(len(index), len(dataset.train_labels), batch_size)
                students = yield from train_grid(runs, f"{f:.0%} seed={seed}", config.student, dataset.subset(index),
                                                 seed, pair, train_logits[index.to(train_logits.device)],
                                                 student_config(epochs, seed, config.device, epoch_limit=limit), stop)
                hard[f].append(accuracy(test_logits(students[0], dataset), labels))
                distilled[f].append(accuracy(test_logits(students[1], dataset), labels))
        mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
        return {"student": config.student, "temperature": config.temperature, "alpha": config.alpha,
                "epochs": config.epochs, "fractions": list(config.fractions), "seeds": list(config.seeds),
                "train_sizes": [sizes[f] for f in config.fractions],
                "hard_accuracies": [hard[f] for f in config.fractions],
                "distilled_accuracies": [distilled[f] for f in config.fractions],
                "hard_accuracy": [mean(hard[f]) for f in config.fractions],
                "distilled_accuracy": [mean(distilled[f]) for f in config.fractions]}

    yield from drive(NAME, body(), total)


def experiment(dataset: Dataset, teacher: torch.nn.Module, config: TransferSizeConfig = TransferSizeConfig(),
               stop=None, use_cache: bool = True) -> Iterator[Progress]:
    return cached(NAME, config, dataset, [teacher], lambda: run(dataset, teacher, config, stop), use_cache)
