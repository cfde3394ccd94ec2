"""Running a job's work, whatever runs it (a thread of this server, a Ray worker): `drive()` turns
the events of `work(stop)` into the Job's state, here in the web server's process, then closes the
job (history rows, checkpoints, held locks); `Once` hands a backend the work exactly once.
Choosing the backend and queueing the job is jobs.py's business."""
from __future__ import annotations

import logging
import time
from typing import Callable, Iterator

import torch

from lab.errors import LabError

from . import records
from .job import Job, close

log = logging.getLogger(__name__)


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
