"""Repeat one student pair over seeds: how much of a distillation gain is the seed's luck?

One pair (the same student on labels and on the teacher's soft targets, from one seed's initial
weights and batches) says little: on 1,000 test images its gain has a ~0.9-point interval, and
another seed moves it by about as much. This trains the pair for every seed — each seed's pair
as one stacked run for student-mlp (lab.stacking), the two students side by side — and reports
per seed the paired difference on the test images (lab.stats.paired_difference), then the mean
gain ± spread over seeds with a t-interval of the mean (lab.stats.over_seeds).

    for p in experiment(dataset, teacher, SeedsConfig(seeds=(0, 1, 2, 3, 4), epochs=30)):
        ...
    p.result["mean_gain"], p.result["std_gain"], p.result["words"]

Seed s here is the Distill page's pair at seed s: same initial weights, same batch order.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterator

import torch

from ..data import Dataset
from ..limits import check_epochs, check_seeds
from ..losses import check_temperature_alpha
from ..models import DEFAULT_STUDENT
from ..recipes import DEFAULT_ALPHA, DEFAULT_TEMPERATURE, STUDENT_CONFIG, teacher_train_logits
from ..stats import over_seeds, paired_from_logits
from .common import Progress, Runs, cached, drive, grid_runs, student_config, test_logits, train_grid

NAME = "seeds"


@dataclass(frozen=True)
class SeedsConfig:
    student: str = DEFAULT_STUDENT
    temperature: float = DEFAULT_TEMPERATURE
    alpha: float = DEFAULT_ALPHA
    epochs: int = STUDENT_CONFIG.epochs
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    device: str = "auto"

    def __post_init__(self):
        check_temperature_alpha(self.temperature, self.alpha)
        check_seeds(self.seeds)
        check_epochs(self.epochs)


def run(dataset: Dataset, teacher: torch.nn.Module, config: SeedsConfig = SeedsConfig(), stop=None,
        teacher_logits: torch.Tensor | None = None) -> Iterator[Progress]:
    pair = [(config.temperature, 0.0), (config.temperature, config.alpha)]  # labels, distilled
    total = len(config.seeds) * grid_runs(config.student, dataset, len(pair))
    runs = Runs(NAME, total)

    def body():
        train_logits = teacher_logits
        if train_logits is None:
            train_logits = teacher_train_logits(teacher, dataset, config.device)
        labels = dataset.test_labels.cpu()
        per_seed = []
        for seed in config.seeds:
            hard, distilled = yield from train_grid(runs, f"seed={seed}", config.student, dataset, seed, pair,
                                                    train_logits, student_config(config.epochs, seed, config.device),
                                                    stop)
            paired = paired_from_logits(test_logits(hard, dataset), test_logits(distilled, dataset), labels)
            per_seed.append({"seed": seed, "hard": paired.accuracy_a, "distilled": paired.accuracy_b,
                             "gain": paired.difference, "paired": paired.as_dict()})
        spread = over_seeds([r["gain"] for r in per_seed])
        return {"config": asdict(config), "n_test": len(labels), "per_seed": per_seed,
                "gains": [r["gain"] for r in per_seed], "mean_gain": spread.mean, "std_gain": spread.std,
                "low": spread.low, "high": spread.high, "confidence": spread.confidence,
                "within_noise": spread.within_noise, "words": spread.words()}

    return drive(NAME, body(), total)


def experiment(dataset: Dataset, teacher: torch.nn.Module, config: SeedsConfig = SeedsConfig(), stop=None,
               use_cache: bool = True, teacher_logits: torch.Tensor | None = None) -> Iterator[Progress]:
    """`run`, looked up in the experiment cache first (keyed by config, dataset and teacher)."""
    return cached(NAME, config, dataset, [teacher], lambda: run(dataset, teacher, config, stop, teacher_logits),
                  use_cache)
