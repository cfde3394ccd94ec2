"""A grid of distilled students trained at once: one stacked model, one run of the engine.

A T × α sweep of a small student is many tiny runs; alone, each one is all per-step
overhead (Python, optimizer, host syncs). Stacked, G students share every step:

    stack = StackedModels([init_model(student, dataset, seed) for _ in range(G)])
    objective = SoftTargets(temperatures, alphas, teacher_logits)       # one (T, α) per member
    for event in train(stack, dataset, objective, config): ...          # the ordinary engine

The stack's forward returns (G, B, K) logits; the engine and `predict_logits` accept a
leading model dimension and report accuracies averaged over the members. The objective
(lab.losses.SoftTargets, the one KD loss, given one T and one α per member) *sums* the
members' losses, so each member gets exactly the gradient it would get alone,
and AdamW (elementwise) updates it as a separate run would: same batches (same seed), same
init. Not bit for bit: batched matmuls round differently, and AdamW's first steps turn that
rounding in near-zero gradients into full-size steps; tests/test_stacking.py checks the gradients
exactly and whole runs by what they learn.
"""
from __future__ import annotations

import copy
import time
from typing import Iterator

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from .data import Dataset
from .losses import HardLabels, SoftTargets
from .metrics import predict_logits
from .recipes import STUDENT_CONFIG, init_model, teacher_train_logits
from .models import DEFAULT_STUDENT
from .train import TrainConfig, run_to_end, train


class StackedModels(nn.Module):
    """G models of one architecture evaluated together with `torch.func.vmap`.

    Parameters are stored stacked, (G, *shape) each; `unstack()` gives the G models back.
    Models with BatchNorm are not supported (vmap cannot update per-member running stats).
    """

    def __init__(self, models: list[nn.Module]):
        super().__init__()
        assert models and not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in models[0].modules()), \
            "stacking needs models without BatchNorm"
        params, buffers = stack_module_state(models)
        self.names = list(params)
        for i, name in enumerate(self.names):  # "body.1.weight" cannot be a parameter name
            self.register_parameter(f"p{i}", nn.Parameter(params[name].detach().clone()))
        self.stacked_buffers = buffers
        # The architecture only (no storage), kept out of the module tree so .to() leaves it alone.
        self.__dict__["template"] = copy.deepcopy(models[0]).to("meta")
        self.size = len(models)
        self.arch = getattr(models[0], "arch", type(models[0]).__name__)

    def _params(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, f"p{i}") for i, name in enumerate(self.names)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (G, B, K)
        def one(params, buffers, x):
            return functional_call(self.template, (params, buffers), (x,))
        buffers = {k: v.to(x.device) for k, v in self.stacked_buffers.items()}
        return torch.func.vmap(one, in_dims=(0, 0, None), randomness="different")(self._params(), buffers, x)

    def unstack(self) -> list[nn.Module]:
        """The G members as ordinary models (on the stack's device)."""
        members = []
        for g in range(self.size):
            model = copy.deepcopy(self.template).to_empty(device=self.p0.device)
            state = {name: p[g].detach().clone() for name, p in self._params().items()}
            model.load_state_dict(state, strict=False)
            model.arch = self.arch
            members.append(model)
        return members


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
