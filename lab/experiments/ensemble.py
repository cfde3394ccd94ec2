"""Many teachers -> one student (Hinton et al. 2015 distilled an ensemble into one net).

The ensemble predicts the arithmetic mean of its members' probabilities; that average usually
beats every member. Its soft targets at temperature T are the mean of the members'
softmax(z_i / T); written as logits, z = T · log(mean_i softmax(z_i / T)), so the ordinary
`SoftTargets` objective distills it unchanged. Three students start from the same weights:
on labels, from the best single teacher, and from the ensemble.

Which teacher is "best" is decided on held-out images: a stratified `selection_fraction` of the
test split that no reported number uses. Every accuracy in the result is measured on the other
test images (picking on the images one reports on would flatter the pick).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

from ..data import Dataset
from ..errors import ConfigError
from ..limits import MAX_MEMBERS, check_count, check_epochs, check_seed
from ..losses import HardLabels, SoftTargets, check_temperature_alpha
from ..metrics import accuracy
from ..models import DEFAULT_STUDENT
from ..recipes import DEFAULT_ALPHA, DEFAULT_TEMPERATURE, STUDENT_CONFIG
from .common import (Progress, Runs, cached, cached_teacher_logits, drive, fresh_student, stratified_subset,
                     student_config, test_logits)

NAME = "ensemble"


@dataclass(frozen=True)
class EnsembleConfig:
    student: str = DEFAULT_STUDENT
    temperature: float = DEFAULT_TEMPERATURE
    alpha: float = DEFAULT_ALPHA
    seed: int = 0
    epochs: int = STUDENT_CONFIG.epochs  # the lesson's schedule: shorter ones hide distillation's gain
    selection_fraction: float = 0.5      # of the test images, to pick the best teacher (never reported)
    device: str = "auto"

    def __post_init__(self):
        check_temperature_alpha(self.temperature, self.alpha)
        if not 0 < self.selection_fraction < 1:
            raise ConfigError("The selection fraction must lie strictly between 0 and 1 "
                              f"(got {self.selection_fraction}).")
        check_seed(self.seed)
        check_epochs(self.epochs)


def selection_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(selection indices, report indices) of the test split: a stratified `fraction` to choose on,
    the rest to report on; disjoint, together every test image."""
    selection = stratified_subset(labels, fraction, seed)
    report = torch.ones(len(labels), dtype=torch.bool)
    report[selection] = False
    return selection, torch.nonzero(report).flatten()


def pick_best(member_test_logits: list[torch.Tensor], labels: torch.Tensor, selection: torch.Tensor) -> int:
    """The member with the highest accuracy on the selection images only (first on ties)."""
    scores = [accuracy(z[selection], labels[selection]) for z in member_test_logits]
    return max(range(len(scores)), key=lambda i: scores[i])


def ensemble_logits(member_logits: list[torch.Tensor], temperature: float = 1.0) -> torch.Tensor:
    """Logits whose softmax at `temperature` is the mean of the members' softmax at `temperature`."""
    probs = torch.stack([torch.softmax(z.float() / temperature, -1) for z in member_logits]).mean(0)
    return temperature * probs.clamp_min(1e-12).log()


def run(dataset: Dataset, teachers: list[torch.nn.Module], config: EnsembleConfig = EnsembleConfig(),
        stop=None) -> Iterator[Progress]:
    if len(teachers) < 2:
        raise ConfigError("An ensemble needs at least two teachers (give --teachers DIR1,DIR2,...).")
    runs = Runs(NAME, 3)

    def body():
        labels = dataset.test_labels.cpu()
        selection, report = selection_split(labels, config.selection_fraction, config.seed)
        logits = [cached_teacher_logits(t, dataset, config.device) for t in teachers]  # [(train, test)]
        best = pick_best([test for _, test in logits], labels, selection)

        def reported(z):  # accuracy on the report images only
            return accuracy(z[report], labels[report])
        teacher_accuracies = [reported(test) for _, test in logits]
        ensemble_test = ensemble_logits([test for _, test in logits])
        targets = {"best_teacher": logits[best][0],
                   "ensemble": ensemble_logits([train for train, _ in logits], config.temperature)}
        train_config = student_config(config.epochs, config.seed, config.device)
        students = {}
        objectives = {"labels": HardLabels(),
                      **{k: SoftTargets(config.temperature, config.alpha, teacher_logits=v) for k, v in targets.items()}}
        for name, objective in objectives.items():
            result = yield from runs.train(name, fresh_student(config.student, dataset, config.seed), dataset,
                                           objective, train_config, stop)
            students[name] = reported(test_logits(result.model, dataset))
        return {"student": config.student, "temperature": config.temperature, "alpha": config.alpha,
                "teacher_accuracies": teacher_accuracies, "ensemble_accuracy": reported(ensemble_test),
                "best_teacher": best, "selection_size": len(selection), "report_size": len(report),
                "selection_accuracies": [accuracy(test[selection], labels[selection]) for _, test in logits],
                "student_from_labels": students["labels"],
                "student_from_best_teacher": students["best_teacher"],
                "student_from_ensemble": students["ensemble"]}

    yield from drive(NAME, body(), 3)


def experiment(dataset: Dataset, teachers: list[torch.nn.Module], config: EnsembleConfig = EnsembleConfig(),
               stop=None, use_cache: bool = True) -> Iterator[Progress]:
    return cached(NAME, config, dataset, teachers, lambda: run(dataset, teachers, config, stop), use_cache)


def with_new_members(dataset: Dataset, teachers: list[torch.nn.Module], config: EnsembleConfig = EnsembleConfig(),
                     new_members: int = 0, member_arch: str = DEFAULT_STUDENT, member_epochs: int = 3,
                     member_names: list[str] | None = None, stop=None, use_cache: bool = True) -> Iterator[Progress]:
    """`experiment`, after first training `new_members` extra members of `member_arch` (seeds
    config.seed + 1, + 2, …; labels only, the teacher schedule) — so an ensemble can be built
    from a single shipped teacher. One Progress stream over all runs; the result also names the
    members (`member_names`)."""
    from dataclasses import replace

    from ..recipes import TEACHER_CONFIG, init_model
    from .common import Stopped

    if len(teachers) + new_members < 2:
        raise ConfigError("An ensemble needs at least two members: pick more teachers or train new ones.")
    check_count("members in an ensemble", len(teachers) + new_members, MAX_MEMBERS)
    total = new_members + 3
    runs = Runs(NAME, total)
    names = list(member_names or [f"teacher {i + 1}" for i in range(len(teachers))])
    trained = []
    try:
        for i in range(new_members):
            seed = config.seed + 1 + i
            train_config = replace(TEACHER_CONFIG, epochs=member_epochs, seed=seed, device=config.device)
            result = yield from runs.train(f"new member {i + 1}: {member_arch} seed={seed}",
                                           init_model(member_arch, dataset, seed), dataset, HardLabels(),
                                           train_config, stop)
            trained.append(result.model.eval())
            names.append(f"{member_arch} seed={seed}")
    except Stopped as e:
        yield Progress(NAME, "", total, total, e.event, e.event.kind, None, e.event.message)
        return
    for p in experiment(dataset, list(teachers) + trained, config, stop, use_cache):
        if not p.done:
            p.run_index, p.total_runs = p.run_index + new_members, total
        elif p.status == "finished":
            p.result = {**p.result, "member_names": names}
        yield p
