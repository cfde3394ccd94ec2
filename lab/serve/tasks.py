"""What a training job does, as a small description any process can run: the server's threads,
a warm worker process (workers.py) or a Ray worker (ray_runner.py) all run the same code.

    task = Task("lab.serve.tasks:pair", {"dataset": "mnist-sample", "teacher": TeacherRef(folder), ...})
    for name, event in task(stop): ...       # (run name, lab.train.Event | Progress | Measured)

A Task is a function named by its import path plus small arguments (names, numbers, configs), so
it pickles in microseconds: no dataset, no closure. What a job needs is loaded where it runs, once
per process: datasets by name (lab.data.load caches them), a teacher from its checkpoint folder
(cached below by path and file time), the teacher's logits on the training images
(lab.recipes.teacher_train_logits caches them). A model that exists only in the server (an
uploaded teacher) travels inside its TeacherRef.
"""
from __future__ import annotations

import copy
import functools
import importlib
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from .. import checkpoints
from ..data import Dataset, load
from ..errors import LabError
from ..metrics import predict_logits
from ..recipes import distill_pair_together, summarize, teacher_train_logits, train_teacher
from ..seq.compare import run as seq_compare_run
from . import classroom, teacher_cache


@dataclass(frozen=True)
class Task:
    """`function(spec, stop)` -> iterator of (run name, event), run wherever the task is sent."""
    function: str                  # "module:function", imported by name where the task runs
    spec: dict                     # small arguments; datasets by name, teachers as TeacherRef

    def __call__(self, stop) -> Iterator:  # a Task is a job's work(stop)
        return run(self, stop)


def run(task: Task, stop) -> Iterator:
    module, _, name = task.function.partition(":")
    return getattr(importlib.import_module(module), name)(task.spec, stop)


@dataclass(frozen=True)
class TeacherRef:
    """A teacher a task uses: its checkpoint folder (loaded once per process), or, for a model that
    exists only in the server's memory, the model itself."""
    folder: str | None = None
    model: torch.nn.Module | None = None

    def load(self) -> torch.nn.Module:
        """The job's own copy (moving it to a device never touches the process's shared one)."""
        if self.model is not None:
            return copy.deepcopy(self.model)
        weights = Path(self.folder) / checkpoints.WEIGHTS
        return copy.deepcopy(_checkpoint(str(self.folder), weights.stat().st_mtime))


@functools.lru_cache(maxsize=8)
def _checkpoint(folder: str, mtime: float) -> torch.nn.Module:
    return checkpoints.load(folder)[0].eval()


def dataset(name_or_data) -> Dataset:
    return load(name_or_data) if isinstance(name_or_data, str) else name_or_data


def shipped(task: Task) -> Task:
    """The same task with its dataset and teachers inside it, for a process that may not share this
    machine's disk (a remote Ray worker)."""
    def inline(value):
        if isinstance(value, TeacherRef) and value.model is None:
            return TeacherRef(model=value.load())
        if isinstance(value, (list, tuple)):
            return type(value)(inline(v) for v in value)
        return value
    spec = {key: inline(value) for key, value in task.spec.items()}
    if isinstance(spec.get("dataset"), str):
        spec["dataset"] = load(spec["dataset"])
    return replace(task, spec=spec)


@dataclass
class Measured:
    """A finished model, measured (accuracy, size, latency...), ready to be kept and recorded."""
    model: torch.nn.Module
    metrics: dict
    test_logits: torch.Tensor | None = None
    checkpoint: str | None = None   # already saved (a cached teacher): not saved again
    cached_s: float | None = None   # loaded from the server's teacher cache in this many seconds
    event: Any = None               # the run's final event, when it had no training events
    message: str = ""               # a note for the run (the work may run in another process: no Job there)


def measure(model, data: Dataset, last_metrics: dict, teacher=None, **extra) -> Measured:
    """A finished model, measured on the test set: accuracy, agreement, calibration, size, latency."""
    model = model.cpu().eval()
    metrics = summarize(model, data, last_metrics, teacher=None if teacher is None else teacher.cpu())
    return Measured(model, metrics, predict_logits(model, data.test_images, data.mean, data.std), **extra)


def from_cache(model, card: dict, logits, folder: str, began: float) -> Measured:
    """A teacher found in the server's cache, as the finished run of a job that did not train."""
    seconds = time.perf_counter() - began
    event = teacher_cache.as_event(model, card, seconds, "Loaded from the server's teacher cache.")
    return Measured(model, dict(card.get("metrics") or {}), logits, checkpoint=folder, cached_s=seconds, event=event)


# ---------------------------------------------------------------- the jobs

def teacher(spec: dict, stop) -> Iterator:
    """Train a teacher and share it in the server's cache, unless the session this job waited for
    (the cache entry's claim) already did: then load that one. spec: dataset, arch, config."""
    data, arch, config = dataset(spec["dataset"]), spec["arch"], spec["config"]
    began = time.perf_counter()
    cached = teacher_cache.lookup(data, arch, config)
    if cached is not None:
        logits = predict_logits(cached[0], data.test_images, data.mean, data.std)
        yield "teacher", from_cache(*cached, logits, str(teacher_cache.cache_folder(data, arch, config)), began)
        return
    for event in train_teacher(data, arch, config, stop):
        yield "teacher", event
        if event.kind == "finished":  # measured and shared before the server releases the claim
            measured = measure(event.result.model, data, event.result.metrics)
            try:
                teacher_cache.store(data, arch, config, measured.model, measured.metrics, event.result.history)
            except (OSError, LabError) as e:
                measured.message = f"(Not stored in the server's teacher cache: {e})"
            yield "teacher", measured


def pair(spec: dict, stop) -> Iterator:
    """The hard-label and the distilled student, from the same initial weights, taking turns.
    spec: dataset, teacher (TeacherRef), student, T, alpha, method, config, transfer (optional: the
    students learn from the first N training images)."""
    data, config = dataset(spec["dataset"]), spec["config"]
    model = spec["teacher"].load()
    logits = teacher_train_logits(model, data, config.device)  # once per teacher and process
    last = {}
    for name, event in distill_pair_together(data, model, spec["student"], float(spec["T"]), float(spec["alpha"]),
                                             config, stop, teacher_logits=logits, method=spec.get("method", "kd"),
                                             transfer=spec.get("transfer")):
        last[name] = event
        yield name, event
    measured = {name: measure(event.result.model, data, event.result.metrics, teacher=model)
                for name, event in last.items() if event.kind == "finished"}  # even if its partner stopped
    if len(measured) == 2:  # both finished: which test images each got right, for the paired interval
        measured["distilled"].metrics["paired"] = classroom.paired_counts(
            data.test_labels, measured["hard"].test_logits, measured["distilled"].test_logits)
    yield from measured.items()


def experiment(spec: dict, stop) -> Iterator:
    """One of lab.experiments' generators: `call(dataset, teacher(s), config, stop=stop, **kwargs)`,
    its Progress events under the run `name`. spec: name, call ("module:function"), dataset,
    teacher (a TeacherRef, or a list of them), config, kwargs."""
    module, _, name = spec["call"].partition(":")
    call: Callable = getattr(importlib.import_module(module), name)
    refs = spec["teacher"]
    teachers = [ref.load() for ref in refs] if isinstance(refs, (list, tuple)) else refs.load()
    for progress in call(dataset(spec["dataset"]), teachers, spec["config"], stop=stop, **spec.get("kwargs", {})):
        yield spec["name"], progress


def experiment_task(name: str, call: str, dataset_name: str, teacher, config, **kwargs) -> Task:
    return Task("lab.serve.tasks:experiment", {"name": name, "call": call, "dataset": dataset_name,
                                               "teacher": teacher, "config": config, "kwargs": kwargs})


def seq_compare(spec: dict, stop) -> Iterator:
    """The sequence comparison (lab.seq.compare.run: labels, word-level, sequence-level, on-policy KD
    and top-k on G2P), its Progress events under the run `name`. spec: name, config (a
    CompareConfig), teacher (the G2P teacher's folder; None: the shipped one)."""
    for progress in seq_compare_run(spec["config"], teacher_folder=spec.get("teacher"), stop=stop):
        yield spec["name"], progress


def seq_task(name: str, config, teacher_folder: str | None = None) -> Task:
    return Task("lab.serve.tasks:seq_compare", {"name": name, "config": config, "teacher": teacher_folder})

