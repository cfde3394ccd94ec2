"""One training loop for every sequence model, teacher or student, as a generator of events
(the convention of lab/train.py): the caller renders them and stops by setting `stop` or by not
asking for more; the last event ("finished", "stopped" or "diverged") carries the result.

    for event in train(student, data.train, WordKD(teacher), SeqTrainConfig(steps=1500)):
        if event.kind == "step": print(event.step, event.loss)
    result = event.result

Every method trains for the same number of steps on the same batches (same seed = same row order):
only the objective differs.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Iterator

import torch

from ..data import batch_indices
from ..errors import ConfigError
from .data import Pairs, Words
from .metrics import evaluate
from .objectives import Batch


@dataclass(frozen=True)
class SeqTrainConfig:
    steps: int = 1500
    batch_size: int = 64
    lr: float = 3e-3           # peak of the one-cycle schedule (AdamW)
    weight_decay: float = 0.01
    seed: int = 0              # the order of the rows (and the samples of on-policy runs)
    report_every: int = 50     # steps between "step" events
    eval_every: int = 0        # steps between dev-set evaluations (0: only at the end)

    def __post_init__(self):
        for name in ("steps", "batch_size", "report_every"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ConfigError(f"{name.replace('_', ' ').capitalize()} must be a whole number of at least 1 "
                                  f"(got {value}).")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"The learning rate must be a number above 0 (got {self.lr}). Try 0.003.")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class SeqResult:
    model: torch.nn.Module
    status: str                       # "finished" | "stopped" | "diverged"
    metrics: dict                     # steps, seconds, words_per_s, teacher_tokens, dev_wer, dev_per
    history: list[dict] = field(default_factory=list)
    message: str = ""


@dataclass
class SeqEvent:
    kind: str                 # "start" | "step" | "eval" | "finished" | "stopped" | "diverged"
    step: int
    total_steps: int
    loss: float | None = None
    words_per_s: float | None = None   # training throughput (rows per second)
    teacher_tokens: int = 0
    dev_wer: float | None = None
    seconds: float = 0.0
    message: str = ""
    result: SeqResult | None = None

    @property
    def done(self) -> bool:
        return self.kind in ("finished", "stopped", "diverged")

    @property
    def fraction(self) -> float:
        return self.step / max(self.total_steps, 1)


def _stop_requested(stop) -> bool:
    if stop is None:
        return False
    return stop.is_set() if hasattr(stop, "is_set") else bool(stop())


def batches(pairs: Pairs, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Row indices, epoch after epoch over seeded permutations."""
    while True:
        yield from batch_indices(len(pairs), min(batch_size, len(pairs)), generator)


def visited_rows(pairs: Pairs, config: SeqTrainConfig) -> torch.Tensor:
    """The rows a run with this config trains on, in order (the loop draws them from the same generator)."""
    order = torch.Generator().manual_seed(config.seed)
    rows_iter = batches(pairs, config.batch_size, order)
    return torch.cat([next(rows_iter) for _ in range(config.steps)])


def train(model: torch.nn.Module, pairs: Pairs, objective, config: SeqTrainConfig = SeqTrainConfig(),
          dev: Words | None = None, stop=None) -> Iterator[SeqEvent]:
    """Train `model` in place (on the CPU: the models are small) and yield progress events."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.steps,
                                                   pct_start=0.1)
    order = torch.Generator().manual_seed(config.seed)
    sampling = torch.Generator().manual_seed(config.seed + 1_000_003)  # on-policy samples, apart from the order
    history: list[dict] = []
    start = time.perf_counter()
    window_start, window_rows, loss_sum, loss_count = start, 0, 0.0, 0
    dev_scores = None
    yield SeqEvent("start", 0, config.steps, message=f"Training {getattr(objective, 'name', 'model')} "
                                                       f"for {config.steps} steps.")

    def finish(kind: str, step: int, message: str = "") -> SeqEvent:
        seconds = time.perf_counter() - start
        metrics = {"steps": step, "seconds": seconds, "words_per_s": step * config.batch_size / max(seconds, 1e-9),
                   "teacher_tokens": getattr(objective, "teacher_tokens", 0)}
        if dev_scores is not None:
            metrics |= {"dev_wer": dev_scores.wer, "dev_per": dev_scores.per}
        model.eval()
        return SeqEvent(kind, step, config.steps, seconds=seconds, message=message, teacher_tokens=metrics["teacher_tokens"],
                        dev_wer=metrics.get("dev_wer"), result=SeqResult(model, kind, metrics, history, message))

    rows_iter = batches(pairs, config.batch_size, order)
    for step in range(1, config.steps + 1):
        if _stop_requested(stop):
            yield finish("stopped", step - 1, f"Stopped after {step - 1} of {config.steps} steps.")
            return
        rows = next(rows_iter)
        letters, targets, lengths = pairs.batch(rows)
        loss = objective(model, Batch(letters, targets, lengths, rows, [pairs.words[r] for r in rows.tolist()]), sampling)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        loss_sum, loss_count, window_rows = loss_sum + float(loss.detach()), loss_count + 1, window_rows + len(rows)
        if step % config.report_every == 0 or step == config.steps:
            mean_loss = loss_sum / loss_count
            if not math.isfinite(mean_loss):
                yield finish("diverged", step, f"The loss became {mean_loss} at step {step}: training diverged. "
                                               f"Lower the learning rate (it is {config.lr:g}; try {config.lr / 3:g}).")
                return
            now = time.perf_counter()
            rate = window_rows / max(now - window_start, 1e-9)
            history.append({"step": step, "loss": mean_loss, "seconds": now - start,
                            "teacher_tokens": getattr(objective, "teacher_tokens", 0)})
            yield SeqEvent("step", step, config.steps, loss=mean_loss, words_per_s=rate, seconds=now - start,
                           teacher_tokens=history[-1]["teacher_tokens"])
            window_start, window_rows, loss_sum, loss_count = now, 0, 0.0, 0
        if dev is not None and (step == config.steps or (config.eval_every and step % config.eval_every == 0)):
            dev_scores = evaluate(model, dev)
            model.train()
            history.append({"step": step, "dev_wer": dev_scores.wer, "dev_per": dev_scores.per})
            yield SeqEvent("eval", step, config.steps, dev_wer=dev_scores.wer, seconds=time.perf_counter() - start,
                           teacher_tokens=getattr(objective, "teacher_tokens", 0))
            window_start = time.perf_counter()  # the next throughput window leaves the evaluation out
    yield finish("finished", config.steps)


def run_to_end(events: Iterator[SeqEvent]) -> SeqResult:
    event = None
    for event in events:
        pass
    assert event is not None and event.result is not None
    return event.result
