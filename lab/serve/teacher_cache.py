"""Train each teacher configuration once per server: an on-disk cache of trained teachers.

    model, card, trained = cached_teacher(dataset, "teacher-cnn", TEACHER_CONFIG)

The key is (dataset name and size, architecture, training config): 30 students asking for
the default teacher share one training run. A file lock makes a second process (or thread)
asking for the same key wait for the first one and then load its checkpoint, instead of
training it again. The checkpoint is written atomically (checkpoints.save), so a crash
mid-training leaves no half-teacher behind: the next request trains it again.

Entries live in <data folder>/teachers/<dataset>-<arch>-<hash>/ (model.safetensors + model.json).

A caller that drives training itself (the app's background jobs, which draw every event) uses
the pieces instead: a `Claim` on the entry around `lookup()` + training + `store()`, and `as_event()`
to hand a cached teacher on as the "finished" event of a run that did not need to train.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Callable

from .. import checkpoints
from ..data import Dataset, data_dir
from ..errors import CheckpointError, LabError
from ..recipes import TEACHER_CONFIG, summarize, train_teacher
from ..train import Event, TrainConfig, TrainResult

CACHE_VERSION = 1  # bump when training changes so that old teachers are not reused


def cache_root() -> Path:
    return data_dir() / "teachers"


def cache_key(dataset: Dataset, arch: str, config: TrainConfig) -> str:
    """A short hash of everything that determines the trained weights (the device does not)."""
    settings = {k: v for k, v in config.as_dict().items() if k not in ("device", "report_every")}
    identity = {"v": CACHE_VERSION, "dataset": dataset.name, "n_train": len(dataset.train_labels),
                "n_test": len(dataset.test_labels), "shape": list(dataset.shape), "arch": arch, "config": settings}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def cache_folder(dataset: Dataset, arch: str, config: TrainConfig, root: Path | None = None) -> Path:
    return Path(root or cache_root()) / f"{dataset.name}-{arch}-{cache_key(dataset, arch, config)}"


_thread_locks: dict[Path, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


@contextlib.contextmanager
def _exclusive(folder: Path):
    """Held by one thread of one process at a time, per cache entry."""
    with _thread_locks_guard:
        thread_lock = _thread_locks.setdefault(folder, threading.Lock())
    with thread_lock:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with open(folder.parent / f"{folder.name}.lock", "a+") as handle:
            try:
                import fcntl
            except ImportError:  # Windows: the thread lock still protects one server process
                yield
                return
            fcntl.flock(handle, fcntl.LOCK_EX)  # waits while another process trains this teacher
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class Claim:
    """The lock `cached_teacher` holds, taken without blocking: `try_acquire()` says at once whether
    another thread or process holds it (is training this teacher). A waiter polls it, so it can be
    stopped while it waits, and it never holds a training slot meanwhile. `release()` may run in
    another thread than `try_acquire()` (the job that trains is not the one that waited)."""

    def __init__(self, dataset: Dataset, arch: str, config: TrainConfig, root: Path | None = None):
        self.folder = cache_folder(dataset, arch, config, root)
        with _thread_locks_guard:
            self._thread_lock = _thread_locks.setdefault(self.folder, threading.Lock())
        self._handle = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def try_acquire(self) -> bool:
        if self.held:
            return True
        if not self._thread_lock.acquire(blocking=False):
            return False
        try:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.folder.parent / f"{self.folder.name}.lock", "a+")
        except OSError:
            self._thread_lock.release()
            raise
        try:
            import fcntl
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # Windows: the thread lock still protects one server process
            pass
        except OSError:  # another process holds it
            handle.close()
            self._thread_lock.release()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is None:
            return
        handle, self._handle = self._handle, None
        handle.close()  # closing the file releases the flock
        self._thread_lock.release()


def store(dataset: Dataset, arch: str, config: TrainConfig, model, metrics: dict, history=(),
          root: Path | None = None, **extra) -> dict:
    """Write a finished teacher (measured: `metrics`) into the cache, atomically; returns its card."""
    folder = cache_folder(dataset, arch, config, root)
    card = checkpoints.make_card(model, dataset, metrics, status="finished", config=config.as_dict(),
                                 history=list(history), role="teacher", cache_key=folder.name,
                                 trained_by_pid=os.getpid(), **extra)
    checkpoints.save(folder, model.cpu(), card)
    return card


def as_event(model, card: dict, seconds: float = 0.0, message: str = "") -> Event:
    """A cached teacher as the "finished" event of a training run (what a job expects at its end)."""
    metrics = dict(card.get("metrics") or {})
    history = [row for row in card.get("history") or [] if isinstance(row, dict)]
    steps = int(metrics.get("steps") or (history[-1].get("step", 0) if history else 0))
    epochs = int((card.get("config") or {}).get("epochs") or 1)
    result = TrainResult(model, "finished", metrics, history, message)
    return Event("finished", epochs, steps, steps, test_accuracy=metrics.get("test_accuracy"), seconds=seconds,
                 message=message, result=result, images_per_s=metrics.get("images_per_s"))


def lookup(dataset: Dataset, arch: str, config: TrainConfig, root: Path | None = None):
    """(model, card) if this teacher is already trained, else None. Never trains."""
    folder = cache_folder(dataset, arch, config, root)
    if not (folder / checkpoints.CARD).is_file():
        return None
    try:
        return checkpoints.load(folder)
    except CheckpointError:
        return None  # damaged entry: treated as absent, retrained and overwritten


def cached_teacher(dataset: Dataset, arch: str = "teacher-cnn", config: TrainConfig = TEACHER_CONFIG, *,
                   root: Path | None = None, stop=None, on_event: Callable[[Event], None] | None = None):
    """(model, card, trained_now). Trains and stores the teacher unless it is cached.

    `on_event` sees the training events (for a progress bar); `stop` ends training early,
    in which case nothing is cached and a LabError says so."""
    folder = cache_folder(dataset, arch, config, root)
    found = lookup(dataset, arch, config, root)
    if found is not None:
        return (*found, False)
    with _exclusive(folder):
        found = lookup(dataset, arch, config, root)  # trained by someone else while we waited
        if found is not None:
            return (*found, False)
        event = None
        for event in train_teacher(dataset, arch, config, stop):
            if on_event is not None:
                on_event(event)
        if event.kind != "finished":
            raise LabError(f"The teacher was not trained to the end ({event.kind}): {event.message} "
                           "Nothing was cached.")
        model = event.result.model
        card = store(dataset, arch, config, model, summarize(model, dataset, event.result.metrics),
                     event.result.history, root)
        model = model.cpu().eval()
        return model, card, True


def clear(root: Path | None = None) -> int:
    """Delete every cached teacher; returns how many were removed."""
    import shutil
    root = Path(root or cache_root())
    removed = 0
    for folder in root.glob("*/"):
        if (folder / checkpoints.CARD).exists() or (folder / checkpoints.WEIGHTS).exists():
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
