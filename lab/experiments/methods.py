"""What to distill: one student, several objectives (lab.objectives), one table.

Every method trains the same student from the same initial weights on the same batches; the
only difference is the objective. Each row reports test accuracy, calibration (ECE and the
reliability-diagram bins) and agreement with the teacher. `calibration` is the two-row version
(labels vs logit KD) plus the teacher's own row: distillation changes both how often the
student agrees with its teacher and how confident it is.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator

import torch

from ..data import Dataset
from ..errors import ConfigError
from ..limits import check_epochs, check_seed
from ..losses import check_temperature_alpha
from ..metrics import accuracy, agreement, expected_calibration_error, reliability
from ..objectives import OBJECTIVES, explain, make_objective
from ..recipes import DEFAULT_ALPHA, DEFAULT_TEMPERATURE, STUDENT_CONFIG
from .common import Progress, Runs, cached, cached_teacher_logits, drive, fresh_student, student_config, test_logits

NAME = "methods"
ALL_METHODS = ("labels", "kd", "pseudo-labels", "hint", "attention")


@dataclass(frozen=True)
class MethodsConfig:
    methods: tuple[str, ...] = ALL_METHODS
    student: str = "student-cnn-tiny"   # a CNN: attention transfer needs a spatial feature map
    temperature: float = DEFAULT_TEMPERATURE
    alpha: float = DEFAULT_ALPHA
    seed: int = 0
    epochs: int = 6
    device: str = "auto"

    def __post_init__(self):
        check_temperature_alpha(self.temperature, self.alpha)
        check_seed(self.seed)  # the server's limits (lab.limits)
        check_epochs(self.epochs)
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


def run(dataset: Dataset, teacher: torch.nn.Module, config: MethodsConfig = MethodsConfig(), stop=None,
        include_teacher: bool = False, name: str = NAME) -> Iterator[Progress]:
    runs = Runs(name, len(config.methods))

    def body():
        train_logits, teacher_test = cached_teacher_logits(teacher, dataset, config.device)
        labels = dataset.test_labels.cpu()
        train_config = student_config(config.epochs, config.seed, config.device)
        # Build every objective first: a method that cannot work with this student fails now, not later.
        students, objectives = {}, {}
        for method in config.methods:
            students[method] = fresh_student(config.student, dataset, config.seed).to(train_logits.device)
            objectives[method] = make_objective(method, students[method], teacher, dataset, train_logits,
                                                config.temperature, config.alpha, seed=config.seed)
        rows = []
        for method in config.methods:
            result = yield from runs.train(method, students[method], dataset, objectives[method], train_config, stop)
            rows.append({"method": method, **model_row(test_logits(result.model, dataset), labels, teacher_test),
                         "explanation": explain(method)})
        out = {"student": config.student, "temperature": config.temperature, "alpha": config.alpha,
               "seed": config.seed, "epochs": config.epochs, "methods": rows}
        if include_teacher:
            out["teacher"] = model_row(teacher_test, labels, None)
        return out

    yield from drive(name, body(), len(config.methods))


def experiment(dataset: Dataset, teacher: torch.nn.Module, config: MethodsConfig = MethodsConfig(), stop=None,
               use_cache: bool = True) -> Iterator[Progress]:
    return cached(NAME, config, dataset, [teacher], lambda: run(dataset, teacher, config, stop), use_cache)


def calibration_config(**changes) -> MethodsConfig:
    """The calibration defaults: the lesson's own pair (student-mlp, 30 epochs: the schedule at
    which its distilled student beats the label-trained one; two runs, ~10 s)."""
    return replace(MethodsConfig(student="student-mlp", epochs=STUDENT_CONFIG.epochs), **changes)


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
                            "teacher": r["teacher"], "hard": by["labels"], "distilled": by["kd"]}
                for row in (p.result["hard"], p.result["distilled"]):
                    row.pop("explanation", None)
            yield p

    return cached("calibration", config, dataset, [teacher], go, use_cache)
