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

import torch
from torch import nn


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


__all__ = ["StackedModels"]
