"""The ONE job type: what a background job is (a description, the runs it records, its state),
who is watching it, how an event changes it, and how it is closed. Running it is the business of
drive.py (any backend) and jobs.py (which backend, the queue)."""
from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field

import torch
from streamlit.runtime import Runtime

from lab import checkpoints
from lab.errors import LabError
from lab.experiments.common import result_summary
from lab.serve.tasks import Measured  # noqa: F401  (made where the job runs: a worker process, a thread)

from . import records

log = logging.getLogger(__name__)

POLL_S = 0.4                 # how often a running job's panel refreshes
QUEUED_POLL_S = 2.0          # a waiting job changes rarely: polling it fast would take the CPU
                             # from the job that trains (20 waiting students); further back, slower:
QUEUED_POLL_STEPS = ((3, 2.0), (10, 5.0), (30, 10.0))  # (up to this place, poll every s), else 15 s
SIDEBAR_POLL_S = 1.0         # the sidebar's small progress bar (the page's panel is the live one)
HEARTBEAT_TIMEOUT_S = 180.0  # no poll for this long: nobody is watching (background tabs poll ~1/min)
# Every tab of the job's browser is gone (closed, reloading, offline): keep training this long, so
# a reload or a dropped network finds its job still running; then stop it.
GRACE_S = float(os.environ.get("LAB_JOB_GRACE_S", "15"))
WAIT_POLL_S = 0.5            # a job waiting for another session's teacher checks Stop this often

DONE = ("finished", "stopped", "diverged", "error", "abandoned", "cancelled")
_ids = itertools.count(1)


def next_id() -> int:
    return next(_ids)


def queued_poll_s(position: int) -> float:
    """How often a queued job's panel redraws: its place changes only when a job ahead ends, so
    a student 30th in line polls every 10 s and 60 waiting students cost the server a few reruns
    a second, not 60. Coarse steps: a panel whose step changes reruns its page once."""
    return next((every for last, every in QUEUED_POLL_STEPS if position <= last), 15.0)


@dataclass
class Run:
    """One recorded thing inside a job (a model, or an experiment): live history, then results."""
    name: str                       # "teacher" | "hard" | "distilled" | an experiment's name
    arch: str | None
    config: dict = field(default_factory=dict)  # what the history row records as its config
    history: list = field(default_factory=list)
    last: object = None             # the latest lab Event / Progress
    status: str = "waiting"         # waiting | running | finished | stopped | diverged
    metrics: dict | None = None     # recipes.summarize() once measured (an experiment: its summary)
    test_logits: torch.Tensor | None = None
    message: str = ""
    record_id: int | None = None    # its row in the run history
    checkpoint: str | None = None   # folder of its saved model, once finished
    weights: torch.nn.Module | None = None

    @property
    def model(self) -> torch.nn.Module | None:
        """The model; reloaded from its checkpoint when it was dropped from memory (session caps)."""
        if self.weights is None and self.checkpoint and self.status == "finished":
            try:
                self.weights = checkpoints.load(self.checkpoint)[0]
            except (LabError, OSError) as e:
                log.warning("run %s: its checkpoint %s cannot be reloaded: %s", self.record_id, self.checkpoint, e)
        return self.weights

    @model.setter
    def model(self, value) -> None:
        self.weights = value

    def unload(self) -> None:
        """Free what can be reloaded: the model (from its checkpoint), its test logits (recomputed
        from it), the step-by-step curve. The last event keeps its numbers but not the trained
        model it carried (that reference alone kept every "unloaded" model in memory)."""
        if self.checkpoint:
            self.weights = self.test_logits = None
            self.history = self.history[-1:]
            self.last = without_model(self.last)


@dataclass
class Job:
    id: int
    kind: str                       # "teacher" | "distill" | "experiment"
    label: str
    dataset_name: str
    settings: dict = field(default_factory=dict)
    runs: dict = field(default_factory=dict)
    name: str = ""                  # an experiment's name ("sweep", ...); else the kind
    result_key: str | None = None   # an experiment's key in the session's results
    teacher_key: str | None = None
    owner: str | None = None        # the browser's key in the run history
    session_id: str | None = None   # the Streamlit session that started it: capped too (a cookie can be dropped)
    store: object = None            # the RunStore it is recorded in (None: not recorded)
    key: str = field(default_factory=lambda: f"job-{uuid.uuid4().hex[:8]}")  # stable across restarts
    stop: threading.Event = field(default_factory=threading.Event)
    status: str = "queued"          # waiting | queued | running | measuring | one of DONE
    message: str = ""
    latest: object = None           # the last event (an experiment's Progress)
    result: dict | None = None      # an experiment's result
    cached_s: float | None = None   # a teacher found in the server's cache: seconds it took to load
    started: float = field(default_factory=time.monotonic)
    heartbeat: float = field(default_factory=time.monotonic)
    watchers: dict = field(default_factory=dict)  # Streamlit session id -> when last seen
    handle: object = None           # the backend's handle (queue position, cancel, wait)
    cleanup: list = field(default_factory=list)   # called once when the job ends (locks it holds)
    harvested: bool = False
    closed: bool = False

    def __post_init__(self):
        self.name = self.name or self.kind
        self.last_watched = time.monotonic()

    @property
    def done(self) -> bool:
        return self.status in DONE

    @property
    def position(self) -> int:
        """Place in the shared queue: 1 = next to start; 0 = not waiting."""
        return self.handle.position if self.handle is not None and self.status == "queued" else 0

    @property
    def record_id(self) -> int | None:
        """The first run's row in the history (an experiment has one)."""
        return next(iter(self.runs.values())).record_id if self.runs else None

    @property
    def config(self) -> dict:
        return next(iter(self.runs.values())).config if self.runs else {}

    @property
    def thread(self):
        """Join / is_alive, whether the job still waits or already runs (what tests wait on)."""
        return _Waitable(self)

    def release(self) -> None:
        """A closed job gives back what can be rebuilt: its runs' models and logits (see
        Run.unload), an experiment's result, what its last event carried, its drawn curves
        (panels rebuild them)."""
        for run in self.runs.values():
            run.unload()
        if self.kind == "experiment":  # its result reloads from app-runs/run-<id>/result.json
            self.result = None
            for run in self.runs.values():
                run.last = without_model(run.last)
        if all(run.weights is None for run in self.runs.values()):
            self.latest = without_model(self.latest)
        self.__dict__.pop("_curves", None)

    def cancel(self) -> None:
        """Waiting or queued: leave (it never runs). Running: stop within one step."""
        self.stop.set()
        if self.status == "waiting":
            self.status, self.message = "cancelled", "Cancelled while waiting."
        elif self.handle is not None and self.handle.cancel() and self.handle.state == "cancelled":
            self.status, self.message = "cancelled", "Cancelled while waiting in the queue."
        if self.status == "cancelled":
            close(self)

    def progress(self) -> tuple[int, int, float, float | None]:
        """(steps done, total steps, images/s, ETA seconds) over all training runs of the job."""
        events = [r.last for r in self.runs.values() if r.last is not None and hasattr(r.last, "total_steps")]
        if not events:
            return 0, 0, 0.0, None
        done = sum(e.step for e in events)
        total = sum(e.total_steps for e in events) if len(events) == len(self.runs) else \
            events[0].total_steps * len(self.runs)
        rate = sum(e.images_per_s or 0 for e in events if not e.done)
        elapsed = time.monotonic() - self.started
        eta = elapsed / done * (total - done) if done and not self.done else None
        return done, total, rate, eta

    def fraction(self) -> float:
        """0..1 over the whole job (an experiment's Progress, else steps)."""
        if self.latest is not None and hasattr(self.latest, "fraction"):
            return min(max(self.latest.fraction, 0.0), 1.0)
        done, total, _, _ = self.progress()
        return min(done / total, 1.0) if total else 0.0

    # -- who is watching

    def watch(self, session_id: str | None) -> None:
        """A page of this job's browser drew it: that tab is open and looking (heartbeat)."""
        now = time.monotonic()
        self.heartbeat = now
        if session_id is not None:
            self.watchers[session_id] = now
            self.last_watched = now

    def nobody_watching(self) -> bool:
        """Every tab that watched it is gone for GRACE_S, or none polled for HEARTBEAT_TIMEOUT_S.
        A job nobody watched from a server session (AppTest, scripts) belongs to its caller."""
        if not self.watchers:
            return False
        now = time.monotonic()
        if any(session_active(sid) for sid in list(self.watchers)):
            self.last_watched = now
            return now - self.heartbeat > HEARTBEAT_TIMEOUT_S
        return now - self.last_watched > GRACE_S

    def should_stop(self) -> bool:
        """Checked before every training step: Stop pressed, or nobody watches any more."""
        if self.stop.is_set():
            return True
        if self.nobody_watching():
            self.status = "abandoned"
            self.stop.set()
            log.info("%s (%s): every tab of its browser is gone; stopping it", self.key, self.label)
            return True
        return False

    # -- events

    def apply(self, name: str, event) -> None:
        """One event from the work: update the run it belongs to."""
        run = self.runs[name]
        if isinstance(event, Measured):
            run.model, run.metrics, run.test_logits = event.model, event.metrics, event.test_logits
            run.checkpoint = event.checkpoint or run.checkpoint
            if event.event is not None:
                run.last, run.history = event.event, [dict(r) for r in event.event.result.history]
            if event.cached_s is not None:
                self.cached_s, run.message = event.cached_s, "reused from the server's teacher cache"
            if event.message:
                run.message = event.message
            run.status = "finished"
            return
        run.last = self.latest = event
        if hasattr(event, "total_runs"):  # an experiment's Progress
            run.status = event.status
            if event.done:
                self.result = event.result if event.status == "finished" else None
                self.message = event.message
                if event.status == "finished":
                    run.metrics = result_summary(self.name, self.result)
            return
        run.status = event.kind if event.done else "running"
        if event.kind in ("step", "epoch"):
            if event.kind == "epoch" and run.history:
                run.history[-1] = {**run.history[-1], "test_accuracy": event.test_accuracy}
                records.update(self, run)
            else:
                run.history.append({"step": event.step, "epoch": event.epoch, "loss": event.loss,
                                    "train_accuracy": event.train_accuracy, "test_accuracy": None})
        if event.done:
            run.model, run.message = event.result.model, event.message
            if self.status == "running" and all(r.last is not None and getattr(r.last, "done", False)
                                                for r in self.runs.values()):
                self.status = "measuring"


def close(job: Job) -> None:
    """Once: unfinished runs count as stopped, history rows are closed, held locks released."""
    if job.closed:
        return
    for run in job.runs.values():
        if run.status in ("waiting", "running"):
            run.status = "stopped"
        records.finish(job, run)
    for release in job.cleanup:
        try:
            release()
        except Exception:  # a lock that cannot be released must not hide the job's outcome
            log.exception("%s: releasing %r failed", job.key, release)
    job.cleanup.clear()  # a teacher claim holds its dataset
    job.closed = True


def without_model(event):
    """An event without the heavy things it carries: a training event's trained model (and curve)
    in its result, an experiment's whole result (kept on disk and in the session's results).
    What a finished job's panel still reads (steps, seconds, metrics, fraction) stays."""
    if hasattr(event, "total_runs"):  # an experiment's Progress
        if event.result is None and getattr(event.event, "result", None) is None:
            return event
        return dataclasses.replace(event, result=None, event=without_model(event.event))
    result = getattr(event, "result", None)
    if result is None or getattr(result, "model", None) is None:
        return event
    return dataclasses.replace(event, result=dataclasses.replace(result, model=None, history=[]))


class _Waitable:
    def __init__(self, job: Job):
        self.job = job

    def join(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.job.closed and (deadline is None or time.monotonic() < deadline):
            if self.job.handle is not None:
                self.job.handle.wait(0.1)
            else:
                time.sleep(0.05)

    def is_alive(self) -> bool:
        return not self.job.closed


def session_active(session_id: str) -> bool:
    """True while this Streamlit session's tab is connected (always, outside a server)."""
    return not Runtime.exists() or Runtime.instance().is_active_session(session_id)


