"""ONE background-job type for everything long: a teacher, a student pair, every experiment.

    job = Job(next_id(), "distill", label, dataset_name, settings, runs={...}, owner=...)
    start(job, work)        # work(stop) -> iterator of (run name, event); a backend runs it
    job.status, job.position, job.progress(), job.cancel()

A job is a description (kind, label, settings, the runs it records) plus a function that produces
events. A *backend* runs that function somewhere and hands every event back to `drive()`, which
turns events into the job's state, here, in the web server's process: the page only reads the Job.
Today's backend is a thread of lab.serve.jobs' shared queue (a FIFO, N jobs at once per server); another
backend (Ray, issue 11) only has to implement `submit(job, work) -> handle` with the handle's
`position`, `cancel()`, `done` and `wait()`. Pages never know which one runs a job.

Events: `(name, lab.train.Event)` from a training run, `(name, lab.experiments.Progress)` from an
experiment, `(name, Measured(...))` once a finished model is measured. Nothing here imports
Streamlit at module level; `watch()` and the closed-tab check ask Streamlit's runtime lazily.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable, Iterator

import torch

from lab.serve import jobs as job_queue
from lab.errors import LabError

from . import records
from .job import (DONE, GRACE_S, HEARTBEAT_TIMEOUT_S, POLL_S, QUEUED_POLL_S, SIDEBAR_POLL_S,  # noqa: F401
                  WAIT_POLL_S, Job, Measured, Run, next_id, session_active)

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- running a job

def drive(job: Job, work: Callable[[Callable[[], bool]], Iterator]) -> None:
    """Backend-agnostic: run `work(stop)`'s events into the job, then close it (history, disk)."""
    try:
        if job.should_stop():
            job.status = "abandoned" if job.status == "abandoned" else "stopped"
            job.message = "Stopped before it started."
            return
        job.status, job.started = "running", time.monotonic()
        records.start(job)
        for name, event in work(job.should_stop):
            job.apply(name, event)
        conclude(job)
    except torch.OutOfMemoryError:
        log.exception("%s (%s) ran out of memory", job.key, job.label)
        job.status, job.message = "error", ("Out of memory. Choose a smaller model or batch, or train on the CPU "
                                            "(sidebar → device).")
    except LabError as e:
        log.warning("%s (%s) failed: %s", job.key, job.label, e, exc_info=True)
        job.status, job.message = "error", str(e)
    except Exception as e:  # a message on the page, never a traceback there: the traceback goes to the log
        log.exception("%s (%s) failed", job.key, job.label)
        what = "The experiment" if job.kind == "experiment" else "Training"
        job.status, job.message = "error", f"{what} failed: {type(e).__name__}: {e}"
    finally:
        close(job)


def conclude(job: Job) -> None:
    """After the last event: save finished models, then say how the job ended."""
    for run in job.runs.values():
        if run.status == "finished" and run.weights is not None and run.checkpoint is None:
            records.save_checkpoint(job, run)
    diverged = [r for r in job.runs.values() if r.status == "diverged"]
    if job.status == "abandoned":
        return
    if diverged:
        job.status, job.message = "diverged", diverged[0].message or job.message
    elif job.stop.is_set():
        job.status = "stopped"
        job.message = job.message or next((r.message for r in job.runs.values() if r.status == "stopped"), "Stopped.")
    elif job.kind == "experiment" and job.result is None:
        job.status, job.message = "error", job.message or "The experiment ended without a result."
    else:
        job.status = "finished"


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


class Once:
    """What a backend gives the queue: called once, then forgotten. The queue's record of a job
    (the Job's handle, kept as long as the Job) holds the function it was given; without this,
    every finished job kept alive all its work closed over: a pair's copy of the teacher (1.6 MB
    for teacher-cnn), a repeat's teacher, an experiment page's globals."""

    def __init__(self, work):
        self.work = work

    def __call__(self, stop):
        work, self.work = self.work, None
        if work is None:
            raise RuntimeError("a job's work was asked for twice")
        return work(stop)

    def forget(self) -> None:  # a job cancelled in the queue never calls it
        self.work = None

    @classmethod
    def for_job(cls, job: Job, work) -> "Once":
        once = cls(work)
        job.cleanup.append(once.forget)
        return once


class ThreadBackend:
    """Runs a job in a thread of lab.serve.jobs' shared queue, in this process."""
    name = "threads"

    def submit(self, job: Job, work) -> job_queue.Job:
        # The job's own Stop event is the queue's stop flag from the start: a Stop pressed while
        # the job waits reaches the worker however early it starts.
        once = Once.for_job(job, lambda _stop: drive(job, work))  # forgotten once run or cancelled
        return job_queue.shared_queue().submit(once, label=job.label, owner=job.owner, stop=job.stop)


_backend = None
_backend_lock = threading.Lock()


def backend():
    """The backend every job goes to: a Ray cluster when LAB_RAY_ADDRESS is set ("auto", "local" or
    "ray://head:10001"; see ray_backend.py), else this server's own threads. Chosen once per server."""
    global _backend
    with _backend_lock:
        if _backend is None:
            address = os.environ.get("LAB_RAY_ADDRESS", "").strip()
            if address:
                from .ray_backend import RayBackend
                _backend = RayBackend(address)
            else:
                _backend = ThreadBackend()
        return _backend


def start(job: Job, work, ready: Callable[[], bool] | None = None) -> Job:
    """Hand the job to the backend. With `ready`, first wait (no training slot held, Stop polled)
    until `ready()` says it may go: a teacher that another session is training right now."""
    if ready is None or ready():
        _submit(job, work)
        return job
    job.status = "waiting"
    _pending[job.key] = job

    def wait_then_submit():
        while not job.done:
            if job.should_stop():
                job.status = "abandoned" if job.status == "abandoned" else "stopped"
                job.message = job.message or "Stopped while waiting for the other session's teacher."
                close(job)
                return
            if ready():
                _submit(job, work)
                return
            time.sleep(WAIT_POLL_S)

    threading.Thread(target=wait_then_submit, name=f"lab-wait-{job.key}", daemon=True).start()
    return job


def _submit(job: Job, work) -> None:
    try:
        job.status = "queued"
        _pending[job.key] = job
        job.handle = backend().submit(job, work)
    except LabError as e:  # this browser already has jobs waiting
        job.status, job.message = "error", str(e)
        close(job)


def finish_now(job: Job, work) -> Job:
    """Run a job that needs no training slot (a teacher loaded from the cache) right here."""
    drive(job, work)
    return job


def reap() -> None:
    """Waiting or queued jobs whose browser is gone leave the queue (they would only start to stop)."""
    for job in list(_pending.values()):
        if job.status not in ("queued", "waiting") or job.done:
            _pending.pop(job.key, None)
        elif job.nobody_watching():
            job.cancel()
            if job.status == "cancelled":
                job.status, job.message = "abandoned", "Its browser tab was closed while it waited."
            _pending.pop(job.key, None)


_pending: dict[str, Job] = {}  # jobs waiting for a slot or a teacher, server-wide (until they start or end)
