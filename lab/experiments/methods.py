"""What to distill: one student, several objectives (lab.objectives), one table.

Every method trains the same student from the same initial weights on the same batches; the
only difference is the objective. Each row reports test accuracy, calibration (ECE and the
reliability-diagram bins) and agreement with the teacher. `calibration` is the two-row version
(labels vs logit KD) plus the teacher's own row: distillation changes both how often the
student agrees with its teacher and how confident it is.

The methods differ by a point or two, about the noise of one run on 1,000 test images: the table
is repeated over `seeds` (three by default; every method of a seed from that seed's weights) and
each row carries its gain over the labels-only student on the same images, with its interval
(lab.stats.paired_over_seeds). The labels-only baseline always runs, chosen or not. A row's
numbers are means over the seeds; its reliability bins pool every seed's test predictions.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator

import torch

from ..data import Dataset
from ..errors import ConfigError
from ..limits import check_epochs, check_seeds
from ..losses import check_temperature_alpha
from ..metrics import accuracy, agreement, expected_calibration_error, reliability
from ..objectives import OBJECTIVES, explain, make_objective
from ..recipes import DEFAULT_ALPHA, DEFAULT_TEMPERATURE, STUDENT_CONFIG
from ..stats import correct, paired_over_seeds
from .common import Progress, Runs, cached, cached_teacher_logits, drive, fresh_student, student_config, test_logits

NAME = "methods"
ALL_METHODS = ("labels", "kd", "pseudo-labels", "hint", "attention")


@dataclass(frozen=True)
class MethodsConfig:
    methods: tuple[str, ...] = ALL_METHODS
    student: str = "student-cnn-tiny"   # a CNN: attention transfer needs a spatial feature map
    temperature: float = DEFAULT_TEMPERATURE
    alpha: float = DEFAULT_ALPHA
    seeds: tuple[int, ...] = (0, 1, 2)  # one run of each method differs from another by about its noise
    epochs: int = 6
    device: str = "auto"

    def __post_init__(self):
        check_temperature_alpha(self.temperature, self.alpha)
        check_seeds(self.seeds)  # the server's limits (lab.limits)
        check_epochs(self.epochs)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"Give at least one seed, each different (got {list(self.seeds)}).")
        unknown = [m for m in self.methods if m not in OBJECTIVES]
        if unknown or not self.methods:
            raise ConfigError(f"Unknown method(s) {', '.join(unknown) or '(none given)'}. "
                              f"Choose from: {', '.join(OBJECTIVES)}.")


def model_row(logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor | None) -> dict:
    row = {"test_accuracy": accuracy(logits, labels), "ece": expected_calibration_error(logits, labels),
           "reliability": reliability(logits, labels),
           "mean_confidence": torch.softmax(logits.float(), -1).max(-1).values.mean().item()}
    if teacher_logits is not None:
        row["agreement"] = agreement(logits, teacher_logits)
    return row


def seeds_row(per_seed: list[torch.Tensor], labels: torch.Tensor, teacher_logits: torch.Tensor | None) -> dict:
    """One method's row over seeds: means of the per-seed numbers (`accuracies` keeps each seed's), the
    reliability bins of every seed's test predictions pooled."""
    rows = [model_row(z, labels, teacher_logits) for z in per_seed]
    mean = lambda key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
    out = {"test_accuracy": mean("test_accuracy"), "accuracies": [r["test_accuracy"] for r in rows],
           "ece": mean("ece"), "mean_confidence": mean("mean_confidence"),
           "reliability": reliability(torch.cat(per_seed), labels.repeat(len(per_seed)))}
    if teacher_logits is not None:
        out["agreement"] = mean("agreement")
    return out


def run(dataset: Dataset, teacher: torch.nn.Module, config: MethodsConfig = MethodsConfig(), stop=None,
        include_teacher: bool = False, name: str = NAME) -> Iterator[Progress]:
    chosen = method_list(config)
    total = len(chosen) * len(config.seeds)
    runs = Runs(name, total)

    def body():
        train_logits, teacher_test = cached_teacher_logits(teacher, dataset, config.device)
        labels = dataset.test_labels.cpu()
        logits = {method: [] for method in chosen}  # per method, per seed: (M, K) test logits
        for seed in config.seeds:
            train_config = student_config(config.epochs, seed, config.device)
            # Build every objective first: a method that cannot work with this student fails now, not later.
            students, objectives = {}, {}
            for method in chosen:
                students[method] = fresh_student(config.student, dataset, seed).to(train_logits.device)
                objectives[method] = make_objective(method, students[method], teacher, dataset, train_logits,
                                                    config.temperature, config.alpha, seed=seed)
            for method in chosen:
                result = yield from runs.train(f"{method} seed={seed}", students[method], dataset,
                                               objectives[method], train_config, stop)
                logits[method].append(test_logits(result.model, dataset))
        labels_right = [correct(z, labels) for z in logits["labels"]]
        rows = []
        for method in chosen:
            row = {"method": method, **seeds_row(logits[method], labels, teacher_test), "explanation": explain(method)}
            if method != "labels":  # paired with the labels-only student of the same seed, on the same images
                gain = paired_over_seeds(labels_right, [correct(z, labels) for z in logits[method]])
                row.update(gain=gain.difference, gain_low=gain.low, gain_high=gain.high,
                           gain_within_noise=gain.within_noise, gain_words=gain.words())
            rows.append(row)
        out = {"student": config.student, "temperature": config.temperature, "alpha": config.alpha,
               "seeds": list(config.seeds), "epochs": config.epochs, "methods": rows,
               "gain_method": "exact" if len(config.seeds) == 1 else "bootstrap"}
        if include_teacher:
            out["teacher"] = model_row(teacher_test, labels, None)
        return out

    yield from drive(name, body(), total)


def method_list(config: MethodsConfig) -> tuple[str, ...]:
    """The methods a run trains: the chosen ones, the labels-only baseline first when it was not chosen
    (every other row's gain is measured against it)."""
    return config.methods if "labels" in config.methods else ("labels", *config.methods)


def total_runs(config: MethodsConfig) -> int:
    return len(method_list(config)) * len(config.seeds)


def experiment(dataset: Dataset, teacher: torch.nn.Module, config: MethodsConfig = MethodsConfig(), stop=None,
               use_cache: bool = True) -> Iterator[Progress]:
    return cached(NAME, config, dataset, [teacher], lambda: run(dataset, teacher, config, stop), use_cache)


def calibration_config(**changes) -> MethodsConfig:
    """The calibration defaults: the lesson's own pair (student-mlp, 30 epochs: the schedule at
    which its distilled student beats the label-trained one; one seed, two runs, ~10 s: a
    reliability diagram, not a ranking)."""
    return replace(MethodsConfig(student="student-mlp", epochs=STUDENT_CONFIG.epochs, seeds=(0,)), **changes)


def calibration(dataset: Dataset, teacher: torch.nn.Module, config: MethodsConfig | None = None, stop=None,
                use_cache: bool = True) -> Iterator[Progress]:
    """Teacher, hard-label and distilled student: reliability bins, ECE, confidence, agreement."""
    config = replace(config or calibration_config(), methods=("labels", "kd"))

    def go():
        for p in run(dataset, teacher, config, stop, include_teacher=True, name="calibration"):
            if p.done and p.result is not None:
                r = p.result
                by = {row["method"]: row for row in r["methods"]}
                p.result = {"student": r["student"], "temperature": r["temperature"], "alpha": r["alpha"],
                            "seeds": r["seeds"], "teacher": r["teacher"], "hard": by["labels"], "distilled": by["kd"]}
                for row in (p.result["hard"], p.result["distilled"]):
                    row.pop("explanation", None)
            yield p

    return cached("calibration", config, dataset, [teacher], go, use_cache)
