"""Optimizers and learning-rate schedules for the one training loop (lab.train), by name:

    adamw  AdamW, one-cycle schedule (cosine, peak `lr` after 25 % of the steps): the digit recipes.
    sgd    Nesterov SGD as airbench trains (Jordan 2024): linear warm-up from lr/5 to `lr` over
           23 % of the steps, then linear decay to 0.07·lr; BatchNorm biases learn `bias_lr_scale`×
           faster but decay no faster (their weight decay is divided by the same factor).

`Lookahead` is airbench's weight averaging (after hlb-cifar10): every 5 steps the weights are
pulled towards a running average, more strongly as training ends, and the last step hands the
average over to the model.
"""
from __future__ import annotations

import torch
from torch import nn

OPTIMIZERS = ("adamw", "sgd")


def _batchnorm_biases(model: nn.Module) -> list[nn.Parameter]:
    return [m.bias for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.bias is not None and m.bias.requires_grad]


def make_optimizer(model: nn.Module, extra: list[nn.Parameter], config, total_steps: int):
    """(optimizer, per-step LR schedule) for `model` (and an objective's own `extra` parameters)."""
    if config.optimizer == "adamw":
        optimizer = torch.optim.AdamW([*model.parameters(), *extra], lr=config.lr, weight_decay=config.weight_decay)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps,
                                                       pct_start=0.25)
        return optimizer, schedule
    assert config.optimizer == "sgd", config.optimizer
    biases = _batchnorm_biases(model)
    chosen = {id(p) for p in biases}
    others = [p for p in [*model.parameters(), *extra] if p.requires_grad and id(p) not in chosen]
    scale = config.bias_lr_scale
    groups = [{"params": others, "lr": config.lr, "weight_decay": config.weight_decay},
              {"params": biases, "lr": config.lr * scale, "weight_decay": config.weight_decay / scale}]
    optimizer = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True)
    warmup = max(int(total_steps * 0.23), 1)

    def factor(step: int) -> float:  # times each group's peak learning rate
        if step < warmup:
            return 0.2 + 0.8 * step / warmup
        return 1.0 - 0.93 * (step - warmup) / max(total_steps - warmup, 1)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Lookahead:
    """Every `every` steps: average ← average + (1 − d)·(weights − average); weights ← average,
    with d = 0.95⁵ · (step / total)³ (0 at the start: no averaging; ~0.77 at the end). Buffers
    (BatchNorm's running statistics) are averaged too. `finish()` copies the average in."""

    def __init__(self, model: nn.Module, total_steps: int, every: int = 5):
        self.model, self.total, self.every = model, total_steps, every
        self.average = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def step(self, step: int) -> None:
        if step % self.every == 0:
            self._pull(0.95 ** 5 * (step / self.total) ** 3)

    @torch.no_grad()
    def finish(self) -> None:
        self._pull(1.0)

    def _pull(self, decay: float) -> None:
        state = self.model.state_dict()
        for name, average in self.average.items():
            average.lerp_(state[name], 1 - decay)
            state[name].copy_(average)
