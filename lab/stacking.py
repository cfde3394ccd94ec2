"""A grid of distilled students trained at once: one stacked model, one run of the engine.

A T × α sweep of a small student is many tiny runs; alone, each one is all per-step
overhead (Python, batch preparation, the optimizer loop, host syncs, evaluation). Stacked,
G students share one run:

    stack = StackedModels([init_model(student, dataset, seed) for _ in range(G)])
    objective = SoftTargets(temperatures, alphas, teacher_logits)       # one (T, α) per member
    for event in train(stack, dataset, objective, config): ...          # the ordinary engine

The stack's forward returns (G, B, K) logits; the engine and `predict_logits` accept a
leading member dimension and report accuracies averaged over the members. The objective
(lab.losses.SoftTargets, the one KD loss, given one T and one α per member) returns one loss
per member; the engine sums the live ones, so each member gets exactly its own gradient, and a
member whose loss stops being finite drops out alone (`TrainResult.metrics["diverged_members"]`)
while the others train on.

**Stacked = separate, bit for bit.** Each member keeps its own parameter tensors and runs its
own forward pass, so every kernel sees the shapes and values of the member's separate run:
same seed (batches), same initial weights, same settings give the same weights and the same
test predictions as `train(member, ...)` alone, in fp32 and under bf16 autocast alike
(tests/test_stacking.py). (An earlier version vmap'ed one batched model: 3-4× cheaper per
step, but batched matmuls round differently and 30 epochs of AdamW amplified that into
different students — about half a point on the 1,000-image test split.) Members with dropout
draw their masks in turn from one generator, so they would not match their separate runs; the
lab's students have no dropout.
"""
from __future__ import annotations

import copy
import time
from typing import Iterator

import torch
from torch import nn

from .data import Dataset
from .losses import HardLabels, SoftTargets
from .metrics import predict_logits
from .recipes import STUDENT_CONFIG, init_model, teacher_train_logits
from .models import DEFAULT_STUDENT
from .train import TrainConfig, run_to_end, train


class StackedModels(nn.Module):
    """G models of one architecture trained as one: forward gives their (G, B, K) logits.
    `unstack()` gives the G models back."""

    def __init__(self, models: list[nn.Module]):
        super().__init__()
        if not models:
            raise ValueError("A stack needs at least one model.")
        self.members = nn.ModuleList(models)
        self.size = len(models)
        self.arch = getattr(models[0], "arch", type(models[0]).__name__)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (G, B, K)
        return torch.stack([member(x) for member in self.members])

    def unstack(self) -> list[nn.Module]:
        """The G members as ordinary models (on the stack's device, in the stack's mode)."""
        for member in self.members:
            member.arch = self.arch
        return list(self.members)


def distill_grid(dataset: Dataset, teacher: nn.Module, temperatures, alphas, seeds=(0,),
                 student: str = DEFAULT_STUDENT, config: TrainConfig = STUDENT_CONFIG,
                 teacher_logits: torch.Tensor | None = None) -> Iterator[tuple[str, object]]:
    """A full T × α × seed sweep: per seed, the hard-label student and every grid cell's
    distilled student (all from that seed's initial weights; the grid cells as one stack).

    Yields ("hard", event) / ("grid", event) training events, then one ("result", rows) with
    rows = [{"seed", "temperature", "alpha", "test_accuracy"}] (alpha None = hard labels).
    """
    if teacher_logits is None:
        teacher_logits = teacher_train_logits(teacher, dataset, config.device)
    cells = [(t, a) for t in temperatures for a in alphas]
    rows = []
    for seed in seeds:
        seeded = TrainConfig(**{**config.as_dict(), "seed": seed})
        initial = init_model(student, dataset, seed)
        event = None
        for event in train(copy.deepcopy(initial), dataset, HardLabels(), seeded):
            yield "hard", event
        rows.append({"seed": seed, "temperature": None, "alpha": None,
                     "test_accuracy": event.result.metrics["test_accuracy"]})
        stack = StackedModels([copy.deepcopy(initial) for _ in cells])
        objective = SoftTargets([t for t, _ in cells], [a for _, a in cells], teacher_logits)
        for event in train(stack, dataset, objective, seeded):
            yield "grid", event
        test = dataset.to(teacher_logits.device)
        logits = predict_logits(stack, test.test_images, dataset.mean, dataset.std)  # (G, N, K)
        accs = (logits.argmax(-1) == test.test_labels).double().mean(-1).tolist()
        rows += [{"seed": seed, "temperature": t, "alpha": a, "test_accuracy": acc}
                 for (t, a), acc in zip(cells, accs)]
    yield "result", rows


def run_grid(*args, **kwargs) -> tuple[list[dict], float]:
    """Drain distill_grid; returns (rows, seconds)."""
    start = time.perf_counter()
    rows = None
    for kind, item in distill_grid(*args, **kwargs):
        if kind == "result":
            rows = item
    return rows, time.perf_counter() - start


__all__ = ["StackedModels", "distill_grid", "run_grid", "run_to_end"]
