"""What every experiment shares: progress events, one student run, teacher logits, a disk cache.

An experiment is a generator of `Progress` events (one per training event of each of its runs,
tagged with which run it is) whose last event carries the JSON-able result:

    for p in sweep.run(dataset, teacher, SweepConfig(), stop=flag):
        bar.progress(p.fraction)                # over the whole experiment, not one run
        if p.done: result = p.result            # p.status: "finished" | "stopped" | "diverged"

`experiment(...)` wraps that: it looks the result up in the cache first (keyed by the config,
the dataset and a fingerprint of the teacher's weights), so revisiting a page is instant.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, is_dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import torch

from ..atomic import write_atomically
from ..data import Dataset, data_dir
from ..device import pick_device
from ..losses import HardLabels, SoftTargets
from ..metrics import predict_logits
from ..models import build
from ..recipes import STUDENT_CONFIG, init_model, teacher_train_logits
from ..stacking import StackedModels
from ..train import Event, TrainConfig, train

CACHE_VERSION = 4  # bump when an experiment's code changes what it measures (2: stacked grids; 3: exact paired CIs;
                   # 4: the sweep's held-out choice, methods over seeds, gap_closed's interval, both omit students corrected)


@dataclass
class Progress:
    experiment: str          # "sweep", "omit", ...
    run: str                 # which training run, e.g. "T=4 alpha=0.9 seed=1"
    run_index: int           # 0-based
    total_runs: int
    event: Event | None = None
    status: str = "running"  # "running" | "finished" | "stopped" | "diverged"
    result: dict | None = None
    message: str = ""

    @property
    def done(self) -> bool:
        return self.status != "running"

    @property
    def fraction(self) -> float:
        """Progress over the whole experiment (0..1)."""
        if self.done:
            return 1.0
        within = self.event.fraction if self.event is not None else 0.0
        return (self.run_index + within) / max(self.total_runs, 1)


class Stopped(Exception):
    """Raised inside an experiment when a run ends early; carries that run's last event."""

    def __init__(self, event: Event):
        super().__init__(event.message)
        self.event = event


class Runs:
    """Counts an experiment's training runs and tags their events for the caller."""

    def __init__(self, experiment: str, total: int):
        self.experiment, self.total, self.index = experiment, total, 0

    def train(self, label: str, model, dataset, objective, config: TrainConfig, stop=None):
        """Yield Progress for one run; returns the finished TrainResult (raises Stopped otherwise)."""
        event = None
        for event in train(model, dataset, objective, config, stop, eval_each_epoch=False):
            yield Progress(self.experiment, label, self.index, self.total, event)
        self.index += 1
        if event.kind != "finished":
            raise Stopped(event)
        return event.result


def drive(experiment: str, body: Iterator[Progress], total_runs: int) -> Iterator[Progress]:
    """Run an experiment body (a generator that `return`s its result) and end with one final event."""
    try:
        result = yield from body
    except Stopped as e:
        yield Progress(experiment, "", total_runs, total_runs, e.event, e.event.kind, None, e.event.message)
        return
    yield Progress(experiment, "", total_runs, total_runs, None, "finished", result)


def finish(events: Iterator[Progress]) -> Progress:
    last = None
    for last in events:
        pass
    assert last is not None and last.done
    return last


# ---------------------------------------------------------------- students and teachers

def student_config(epochs: int | None = None, seed: int = 0, device: str = "auto", **changes) -> TrainConfig:
    """The lab's student schedule (un-augmented, so teacher logits can be cached)."""
    base = replace(STUDENT_CONFIG, seed=seed, device=device, **changes)
    return replace(base, epochs=epochs) if epochs is not None else base


def test_logits(model: torch.nn.Module, dataset: Dataset) -> torch.Tensor:
    """(M, K) float32 logits on the test split, on the CPU."""
    device = next(model.parameters()).device
    return predict_logits(model, dataset.to(device).test_images, dataset.mean, dataset.std).cpu()


def cached_teacher_logits(teacher: torch.nn.Module, dataset: Dataset, device: str = "auto"):
    """(train logits on the training device, test logits on the CPU) of a teacher, computed once."""
    train_logits = teacher_train_logits(teacher, dataset, device)
    return train_logits, test_logits(teacher, dataset)


def stratified_subset(labels: torch.Tensor, fraction: float, seed: int, exclude: torch.Tensor | None = None):
    """Indices of `fraction` of each class's examples (at least one each), in ascending order."""
    generator = torch.Generator().manual_seed(seed)
    labels = labels.cpu()
    chosen = []
    for c in labels.unique().tolist():
        members = torch.nonzero(labels == c).flatten()
        if exclude is not None:
            members = members[~torch.isin(members, exclude.cpu())]
        k = max(1, round(fraction * len(members)))
        chosen.append(members[torch.randperm(len(members), generator=generator)[:k]])
    return torch.cat(chosen).sort().values


def fresh_student(arch: str, dataset: Dataset, seed: int) -> torch.nn.Module:
    """Same (arch, seed) -> same initial weights; a deep copy so runs never share tensors."""
    return copy.deepcopy(init_model(arch, dataset, seed))


def stackable(arch: str, dataset: Dataset) -> bool:
    """Can students of `arch` train as one vmap stack? Not with BatchNorm (vmap cannot keep
    per-member running statistics): today only student-mlp stacks; CNN students run one by one."""
    return _stackable(arch, tuple(dataset.shape), dataset.num_classes)


@functools.lru_cache(maxsize=None)
def _stackable(arch: str, shape: tuple, num_classes: int) -> bool:
    # Asked on every Experiments-page rerun (run counts): build the architecture once, not each time.
    with torch.random.fork_rng(devices=[]):  # leave the global RNG as it was
        model = build(arch, shape, num_classes)
    return not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def grid_runs(arch: str, dataset: Dataset, cells: int) -> int:
    """Engine runs `train_grid` needs for `cells` students (for progress over a whole experiment)."""
    return 1 if stackable(arch, dataset) else cells


def train_grid(runs: Runs, label: str, arch: str, dataset: Dataset, seed: int, cells: list[tuple[float, float]],
               teacher_logits: torch.Tensor, config: TrainConfig, stop=None):
    """Train one student per (T, α) cell, all from the seed's initial weights and on the same
    batches; returns the trained students in cell order. α = 0 is labels only.

    A stackable student trains the whole grid as one `StackedModels` run: every member is, bit
    for bit, its own separate run (tests/test_stacking.py), but the per-step overhead is paid
    once. A member that diverged comes back with `diverged = True`; the others are unaffected.
    """
    initial = fresh_student(arch, dataset, seed)
    if stackable(arch, dataset):
        stack = StackedModels([copy.deepcopy(initial) for _ in cells])
        objective = SoftTargets([t for t, _ in cells], [a for _, a in cells], teacher_logits)
        result = yield from runs.train(f"{label} ({len(cells)} students at once)", stack, dataset, objective,
                                       config, stop)
        students = result.model.unstack()
        for g in result.metrics.get("diverged_members", []):  # dropped out alone: its weights are not usable
            students[g].diverged = True
        return students
    students = []
    for t, a in cells:
        objective = HardLabels() if a == 0 else SoftTargets(t, a, teacher_logits=teacher_logits)
        name = f"{label} labels" if a == 0 else f"{label} T={t:g} alpha={a:g}"
        result = yield from runs.train(name, copy.deepcopy(initial), dataset, objective, config, stop)
        students.append(result.model)
    return students


# ---------------------------------------------------------------- cache

def fingerprint(model: torch.nn.Module) -> str:
    """A short hash of a model's weights: a retrained teacher never hits an old cache entry."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def cache_key(experiment: str, config, dataset: Dataset, teachers: list[torch.nn.Module]) -> str:
    settings = asdict(config) if is_dataclass(config) else dict(config)
    settings.pop("device", None)  # where it ran does not change what it means
    blob = json.dumps({"experiment": experiment, "version": CACHE_VERSION, "config": settings,
                       "dataset": dataset.name, "n_train": len(dataset.train_labels),
                       "teachers": [fingerprint(t) for t in teachers]}, sort_keys=True, default=str)
    return f"{experiment}-{hashlib.sha256(blob.encode()).hexdigest()[:20]}"


def cache_dir() -> Path:
    return Path(os.environ.get("LAB_EXPERIMENT_CACHE") or data_dir() / "experiments")


def cached(experiment: str, config, dataset: Dataset, teachers: list[torch.nn.Module],
           run: Callable[[], Iterator[Progress]], use_cache: bool = True) -> Iterator[Progress]:
    """Yield the cached result at once if there is one; else run and store a finished result."""
    path = cache_dir() / f"{cache_key(experiment, config, dataset, teachers)}.json"
    if use_cache and path.is_file():
        try:
            result = json.loads(path.read_text())
            yield Progress(experiment, "", 0, 0, None, "finished", result, "from cache")
            return
        except (OSError, json.JSONDecodeError):
            pass  # a damaged entry is simply recomputed
    last = None
    for last in run():
        yield last
    if use_cache and last is not None and last.status == "finished":
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(jsonable(last.result)))  # two sessions may finish the same run


def jsonable(value):
    """Tensors -> lists, NaN/inf -> None, tuples -> lists (JSON has no NaN)."""
    if isinstance(value, torch.Tensor):
        return jsonable(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def on_device(device: str) -> torch.device:
    return pick_device(device)


# ---------------------------------------------------------------- a result in the run history

def _small(value, max_items: int):
    """A JSON-able value kept in a run-history summary, or None when it is bulk (logits, matrices)."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, float, str)):
        return value if not isinstance(value, str) or len(value) <= 200 else None
    if isinstance(value, (list, tuple)):
        if len(value) <= max_items and all(isinstance(v, (int, float, str, bool)) for v in value):
            return list(value)
        return None
    if isinstance(value, dict) and len(value) <= max_items:
        kept = {k: _small(v, max_items) for k, v in value.items()}
        kept = {k: v for k, v in kept.items() if v is not None}
        return kept or None
    return None


def _headline(name: str, result: dict):
    """The one accuracy that sums an experiment up (the History table's test accuracy column): a number
    the experiment measured as it stands, never the largest of several noisy ones picked afterwards
    on the same images (a winner's curse)."""
    try:
        if name == "sweep":  # the chosen cell on the test images it was not chosen on
            return result["best"]["report_accuracy"]
        if name == "omit":
            return result["accuracy_after"]
        if name == "size":
            return result["distilled_accuracy"][-1]
        if name in ("methods", "breaks"):  # logit KD, fixed in advance (the first row without it), mean over seeds
            rows = {r["method"]: r for r in result["methods"]}
            return (rows.get("kd") or next((r for r in result["methods"] if r["method"] != "labels"), None))[
                "test_accuracy"]
        if name == "calibration":
            return result["distilled"]["test_accuracy"]
        if name == "ensemble":
            return result["student_from_ensemble"]
        if name == "frontier":  # the best distilled rung
            return max(r["distilled_mean"] for r in result["rungs"])
        if name == "blackbox":  # the best setting at the largest budget
            return max(means[-1] for means in result["mean"].values())
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return None


def result_summary(name: str, result: dict | None, max_items: int = 20) -> dict:
    """The final result of experiment `name`, small enough for a run-history row: its numbers and
    short lists (per-class accuracies, the sweep's chosen cell...), without bulk (test logits,
    confusion matrices, every sweep cell), plus `test_accuracy`: the experiment's headline number
    (the sweep's chosen cell on its held-out half, the corrected omitted-class student, the
    ensemble's student...)."""
    if not result:
        return {}
    summary = {k: v for k, v in ((k, _small(v, max_items)) for k, v in result.items()) if v is not None}
    if name in ("methods", "breaks") and isinstance(result.get("methods"), list):
        summary["methods"] = {r.get("method", str(i)): r.get("test_accuracy") for i, r in enumerate(result["methods"])}
    if name == "frontier" and isinstance(result.get("rungs"), list):
        summary["rungs"] = {r.get("arch", str(i)): r.get("distilled_mean") for i, r in enumerate(result["rungs"])}
    if name == "sweep" and isinstance(result.get("cells"), list):
        summary["cells"] = len(result["cells"])
    headline = _headline(name, result)
    if isinstance(headline, (int, float)):
        summary["test_accuracy"] = float(headline)
    return summary
