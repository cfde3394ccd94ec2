"""One training loop for every model: teacher, hard-label student, distilled student.

`train()` is a generator of `Event`s. The caller renders them (progress bar, live chart,
test assertions) and stops training by setting `stop` or simply by not asking for more:

    for event in train(model, dataset, HardLabels(), TrainConfig(epochs=3)):
        if event.kind == "epoch": print(event.test_accuracy)
    result = event.result          # the last event is "finished", "stopped" or "diverged"

What the model learns from is the *objective* (see losses.py); the loop has no branches
per method.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator

import torch

from . import limits
from .data import Dataset, augment, batch_indices, normalize
from .device import autocast, pick_device, precision_name
from .errors import ConfigError
from .metrics import accuracy, predict_logits
from .optim import OPTIMIZERS, Lookahead, make_optimizer


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 8
    batch_size: int = 128
    lr: float = 3e-3           # peak learning rate of the one-cycle schedule (AdamW)
    weight_decay: float = 5e-4
    seed: int = 0
    device: str = "auto"
    augment: bool = True       # shifts for digits, flip + translate for CIFAR (see Dataset.augmentation)
    report_every: int = 8      # steps between "step" events (each costs one host sync)
    optimizer: str = "adamw"   # "adamw" (one-cycle) or "sgd" (Nesterov, airbench's schedule): lab.optim
    momentum: float = 0.85     # sgd only
    bias_lr_scale: float = 64.0  # sgd only: BatchNorm biases learn this much faster
    lookahead: bool = False    # airbench's weight averaging (lab.optim.Lookahead)
    label_smoothing: float = 0.0  # of the hard-label objective the recipes build (losses.HardLabels)
    eval_every: int = 1        # epochs between test evaluations (the last epoch is always evaluated)
    # A run on a small part of the training set may take more, shorter epochs for the steps of
    # limits.MAX_EPOCHS full passes (limits.subset_epoch_limit); every other run stops at MAX_EPOCHS.
    epoch_limit: int = limits.MAX_EPOCHS

    def __post_init__(self):
        if not (isinstance(self.epochs, int) and 1 <= self.epochs <= max(self.epoch_limit, 1)):
            if self.epoch_limit != limits.MAX_EPOCHS:  # a subset's run: say what its limit stands for
                raise ConfigError(f"Epochs on this part of the training set must be a whole number from 1 to "
                                  f"{self.epoch_limit} (the steps of {limits.MAX_EPOCHS} full passes; got {self.epochs}).")
            limits.check_epochs(self.epochs)
        limits.check_batch_size(self.batch_size)
        limits.check_seed(self.seed)
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"The learning rate must be a number above 0 (got {self.lr}). Try 0.003.")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError(f"Weight decay must be 0 or more (got {self.weight_decay}).")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"Unknown optimizer {self.optimizer!r}. Choose one of: {', '.join(OPTIMIZERS)}.")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"Label smoothing must lie in [0, 1) (got {self.label_smoothing}). Try 0.2.")
        if not (isinstance(self.eval_every, int) and self.eval_every >= 1):
            raise ConfigError(f"eval_every must be a whole number of epochs, at least 1 (got {self.eval_every}).")

    def as_dict(self) -> dict:
        """Every field; `epoch_limit` only where a run lifted it (recorded configs and cache keys stay as they were)."""
        d = asdict(self)
        if d["epoch_limit"] == limits.MAX_EPOCHS:
            del d["epoch_limit"]
        return d


@dataclass
class TrainResult:
    model: torch.nn.Module
    status: str                      # "finished" | "stopped" | "diverged"
    metrics: dict                    # test_accuracy, seconds, images_per_s, epochs_done, steps
    history: list[dict] = field(default_factory=list)  # one row per reported step / epoch
    message: str = ""


@dataclass
class Event:
    kind: str            # "start" | "step" | "epoch" | "finished" | "stopped" | "diverged"
    epoch: int           # 1-based epoch in progress
    step: int            # optimizer steps done so far
    total_steps: int
    loss: float | None = None
    train_accuracy: float | None = None
    test_accuracy: float | None = None
    images_per_s: float | None = None
    seconds: float = 0.0
    message: str = ""
    result: TrainResult | None = None

    @property
    def done(self) -> bool:
        return self.kind in ("finished", "stopped", "diverged")

    @property
    def fraction(self) -> float:
        return self.step / max(self.total_steps, 1)

    @property
    def eta_seconds(self) -> float | None:
        if not self.step or self.done:
            return None
        return self.seconds / self.step * (self.total_steps - self.step)


StopSignal = Callable[[], bool]


def _stop_requested(stop) -> bool:
    if stop is None:
        return False
    return stop.is_set() if hasattr(stop, "is_set") else bool(stop())


def train(model: torch.nn.Module, dataset: Dataset, objective, config: TrainConfig = TrainConfig(),
          stop=None, eval_each_epoch: bool = True) -> Iterator[Event]:
    """Train `model` in place on `dataset` with `objective`; yield progress events.

    `stop`: a threading.Event or a callable; checked before every step, so training stops
    within one step and the last event is "stopped" with the partial model.
    """
    device = pick_device(config.device)
    dataset = dataset.to(device)
    model.to(device)
    if device.type != "mps":
        model.to(memory_format=torch.channels_last)  # faster convolutions on oneDNN and cuDNN
    model.train()

    n = len(dataset.train_labels)
    steps_per_epoch = n // config.batch_size if n >= config.batch_size else 1
    total_steps = steps_per_epoch * config.epochs
    # An objective with trainable parts of its own (e.g. the FitNets regressor) is an nn.Module:
    # its parameters train alongside the model's.
    extra = list(objective.to(device).parameters()) if isinstance(objective, torch.nn.Module) else []
    optimizer, schedule = make_optimizer(model, extra, config, total_steps)
    lookahead = Lookahead(model, total_steps) if config.lookahead else None
    generator = torch.Generator(device=device).manual_seed(config.seed)
    aug_kind = dataset.augmentation if config.augment else "none"

    history: list[dict] = []
    start = time.perf_counter()
    seen = 0  # images since start (for images/s)
    step = 0
    test_acc, evaluated_at = None, None  # the last test accuracy and the step it was measured at
    alive, diverged_members = None, []  # per stacked member: still finite? / those that dropped out
    yield Event("start", 1, 0, total_steps, message=f"Training on {device.type} ({precision_name(device)}).")

    def finish(kind: str, message: str = "") -> Event:
        seconds = time.perf_counter() - start
        metrics = {"test_accuracy": test_acc, "seconds": seconds, "images_per_s": seen / max(seconds, 1e-9),
                   "epochs_done": step / steps_per_epoch, "steps": step, "device": device.type,
                   "precision": precision_name(device),  # of training; test accuracy is always fp32 (metrics.py)
                   "evaluation_precision": "fp32", "evaluated_at_step": evaluated_at}
        if alive is not None:  # a stack: which members dropped out (their weights are not usable)
            metrics["diverged_members"] = sorted(diverged_members)
        model.eval()
        result = TrainResult(model, kind, metrics, history, message)
        return Event(kind, min(step // steps_per_epoch + 1, config.epochs), step, total_steps,
                     test_accuracy=test_acc, seconds=seconds, message=message, result=result,
                     images_per_s=metrics["images_per_s"])

    for epoch in range(1, config.epochs + 1):
        loss_sum = torch.zeros((), device=device)   # running sums stay on the device:
        correct = torch.zeros((), device=device)    # one host sync per report, not per step
        count = 0
        window_start, window_seen = time.perf_counter(), 0
        for index in batch_indices(n, config.batch_size, generator):
            if _stop_requested(stop):
                if eval_each_epoch and step and evaluated_at != step:
                    # The partial model is what the run returns and a checkpoint saves: record its own
                    # accuracy, not the previous epoch's (a model that trained on since).
                    logits = predict_logits(model, dataset.test_images, dataset.mean, dataset.std)
                    test_acc, evaluated_at = accuracy(logits, dataset.test_labels), step
                yield finish("stopped", f"Stopped after {step} of {total_steps} steps.")
                return
            images = augment(dataset.train_images[index], aug_kind, generator, index, epoch - 1)
            labels = dataset.train_labels[index]
            x = normalize(images, dataset.mean, dataset.std).contiguous(memory_format=torch.channels_last)
            with autocast(device):
                loss, logits = objective(model, x, labels, index)
            if loss.dim():  # one loss per stacked member (lab.stacking): a member that diverges drops out alone
                alive = torch.ones_like(loss, dtype=torch.bool) if alive is None else alive
                alive &= torch.isfinite(loss.detach())
                loss = torch.where(alive, loss, torch.zeros_like(loss))
                reported = loss.detach().float().sum() / alive.sum().clamp(min=1)  # mean over the live ones
                loss = loss.sum()
            else:
                reported = loss.detach().float()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if lookahead is not None:
                lookahead.step(step)
                if step == total_steps:
                    lookahead.finish()
            seen += len(index)
            window_seen += len(index)
            loss_sum += reported * len(index)
            hits = logits.detach().argmax(-1) == labels  # (B,), or (G, B) for a stack of G models
            correct += hits.sum() / (hits.numel() // len(index))  # mean over the stack's members
            count += len(index)
            if step % config.report_every == 0 or step % steps_per_epoch == 0:
                mean_loss = (loss_sum / count).item()
                note = ""
                if alive is not None:
                    newly = [g for g, ok in enumerate(alive.tolist()) if not ok and g not in diverged_members]
                    diverged_members += newly
                    if newly:
                        note = (f"Stacked member(s) {', '.join(map(str, newly))} diverged by step {step}; "
                                "the others train on.")
                    if len(diverged_members) == len(alive):
                        mean_loss = math.nan
                if not math.isfinite(mean_loss):
                    yield finish("diverged", f"The loss became {mean_loss} at step {step}: training diverged. "
                                             f"Lower the learning rate (it is {config.lr:g}; try {config.lr / 10:g}).")
                    return
                now = time.perf_counter()
                rate = window_seen / max(now - window_start, 1e-9)
                window_start, window_seen = now, 0
                train_acc = correct.item() / count
                history.append({"step": step, "epoch": epoch, "loss": mean_loss, "train_accuracy": train_acc,
                                "seconds": now - start})
                yield Event("step", epoch, step, total_steps, loss=mean_loss, train_accuracy=train_acc,
                            test_accuracy=test_acc, images_per_s=rate, seconds=now - start, message=note)
        if (eval_each_epoch and epoch % config.eval_every == 0) or epoch == config.epochs:
            logits = predict_logits(model, dataset.test_images, dataset.mean, dataset.std)
            test_acc, evaluated_at = accuracy(logits, dataset.test_labels), step
            model.train()
            history[-1]["test_accuracy"] = test_acc
            yield Event("epoch", epoch, step, total_steps, loss=history[-1]["loss"],
                        train_accuracy=history[-1]["train_accuracy"], test_accuracy=test_acc,
                        images_per_s=seen / (time.perf_counter() - start), seconds=time.perf_counter() - start)
    yield finish("finished")


def run_to_end(events: Iterator[Event]) -> TrainResult:
    """Drain a training generator and return its result (for scripts and tests)."""
    event = None
    for event in events:
        pass
    assert event is not None and event.result is not None
    return event.result
