"""ONE background-job type for everything long: a teacher, a student pair, every experiment.

    job = Job(next_id(), "distill", label, dataset_name, settings, runs={...}, owner=...)
    start(job, work)        # work(stop) -> iterator of (run name, event); a backend runs it
    job.status, job.position, job.progress(), job.cancel()

A job is a description (kind, label, settings, the runs it records) plus a function that produces
events. A *backend* runs that function somewhere and hands every event back to `drive()`, which
turns events into the job's state, here, in the web server's process: the page only reads the Job.
Every job waits in lab.serve.jobs' shared queue (a FIFO, N jobs at once per server); then a backend
runs it: a warm worker process of this server (ProcessBackend, the default), a thread of this
process (ThreadBackend: LAB_BACKEND=threads, the AppTests) or a Ray worker (LAB_RAY_ADDRESS).
A backend implements `submit(job, work) -> handle` with the handle's `position`, `cancel()`, `done`
and `wait()`. Pages never know which one runs a job. `work` is a lab.serve.tasks.Task (what the app
starts: it can travel to another process) or any work(stop) callable (it runs in this process).

Events: `(name, lab.train.Event)` from a training run, `(name, lab.experiments.Progress)` from an
experiment, `(name, Measured(...))` once a finished model is measured.

The modules below it, one way: job.py (the Job type, close()) <- drive.py (drive(), Once: what
every backend shares) <- ray_backend.py <- this module (which backend, start, reap). The names
pages and tests use are all here: Job, Run, Measured, drive, close, Once, start, backend.
"""
from __future__ import annotations

import functools
import logging
import os
import threading
import time
from typing import Callable

from lab.errors import LabError
from lab.serve import jobs as job_queue
from lab.serve.tasks import Task
from lab.serve.workers import WorkerPool

from .drive import Once, drive
from .job import (DONE, GRACE_S, HEARTBEAT_TIMEOUT_S, POLL_S, QUEUED_POLL_S, SIDEBAR_POLL_S,  # noqa: F401
                  WAIT_POLL_S, Job, Measured, Run, close, next_id, queued_poll_s, session_active)
from .ray_backend import RayBackend

log = logging.getLogger(__name__)


class ThreadBackend:
    """Runs a job in a thread of lab.serve.jobs' shared queue, in this process."""
    name = "threads"

    def submit(self, job: Job, work) -> job_queue.Job:
        # The job's own Stop event is the queue's stop flag from the start: a Stop pressed while
        # the job waits reaches the worker however early it starts.
        once = Once.for_job(job, lambda _stop: drive(job, work))  # forgotten once run or cancelled
        return job_queue.shared_queue().submit(once, label=job.label, owner=job.owner, stop=job.stop,
                                               session=job.session_id)


class ProcessBackend(ThreadBackend):
    """Runs a job in one of this server's warm worker processes (lab.serve.workers: torch imported
    once, nice 10, one job each): the job waits in the same queue (position, ETA, cancel), then its
    queue thread only receives the worker's events and applies them to the Job. Training never
    competes with page reruns for this process's interpreter. As many workers as the queue runs
    jobs at once. Work that is not a Task (a test's closure) cannot travel: it runs in the thread."""
    name = "processes"

    def __init__(self):
        self.pool = WorkerPool(job_queue.shared_queue().limit)

    def submit(self, job: Job, work) -> job_queue.Job:
        if isinstance(work, Task):
            work = functools.partial(self.pool.events, work)  # called as work(job.should_stop) by drive()
        return super().submit(job, work)


BACKENDS = {"processes": ProcessBackend, "threads": ThreadBackend}
_backend = None
_backend_lock = threading.Lock()


def backend():
    """The backend every job goes to, chosen once per server: a Ray cluster when LAB_RAY_ADDRESS is
    set ("auto", "local" or "ray://head:10001"; see ray_backend.py), else LAB_BACKEND: "processes"
    (the default) or "threads" (the test suite's AppTests, tests/conftest.py)."""
    global _backend
    with _backend_lock:
        if _backend is None:
            address = os.environ.get("LAB_RAY_ADDRESS", "").strip()
            choice = os.environ.get("LAB_BACKEND", "").strip() or "processes"
            if address:
                _backend = RayBackend(address)
            elif choice in BACKENDS:
                _backend = BACKENDS[choice]()
            else:
                raise LabError(f"LAB_BACKEND is {choice!r}: set it to processes or threads (or leave it unset).")
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
