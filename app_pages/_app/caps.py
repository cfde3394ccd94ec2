"""Bounded memory: what a browser's record (session.SessionRecord) may keep in this process.

While a browser has a tab open: the models and logits of its newest `keep_models` pairs and
teachers, the result of its newest experiment (plus session.KEEP_RESULTS results in its cache),
the drawn curves of those jobs. Older ones give back their memory (Job.release) and reload from
disk when a page needs them. Once every tab of the browser has been gone for the job grace
period and nothing of it runs, the record keeps no model, logits, result or chart at all: what
stays is a few kilobytes of job descriptions and metrics, however many pairs it trained.
"""
from __future__ import annotations

import logging
import threading
import time

from . import jobs as job_runner

log = logging.getLogger(__name__)
IDLE_CHECK_S = 5.0    # how often the sweeper looks for browsers whose tabs are all gone
_sweeper: list = []
_sweeper_lock = threading.Lock()


def enforce(rec, keep_models: int, keep_jobs: int, keep_teacher: str | None = None) -> None:
    """Models of all but the newest `keep_models` closed jobs (the teacher in use stays), and
    results of all but the newest experiment job, leave memory; the job list keeps `keep_jobs`.
    A job still closing (its history row, its checkpoint) is left alone."""
    closed = [j for j in rec.jobs if j.closed]
    with_models = [j for j in closed if j.kind in ("teacher", "distill") and j.key != keep_teacher]
    for job in with_models[:-keep_models] if keep_models else with_models:
        job.release()
    for job in [j for j in closed if j.kind == "experiment"][:-1]:
        job.release()
    while len(rec.jobs) > keep_jobs and rec.jobs[0].done:
        rec.jobs.pop(0)


def release_idle(records: dict, lock, now: float | None = None) -> int:
    """Records whose every tab has been gone for GRACE_S, with nothing running, give back all
    their models, logits, results and charts (see release()). Returns how many it released."""
    now = time.monotonic() if now is None else now
    with lock:
        candidates = [r for r in records.values() if not r.released and r.tabs
                      and now - r.seen > job_runner.GRACE_S and all(j.closed for j in r.jobs)]
    released = 0
    for rec in candidates:
        if any(job_runner.session_active(t) for t in list(rec.tabs)):
            continue
        release(rec)
        released += 1
    return released


def start_sweeper(records: dict, lock) -> None:
    """Once per process: a daemon thread runs release_idle() every IDLE_CHECK_S, so the last
    browser to leave is released too (no page run needed to notice it)."""
    with _sweeper_lock:
        if _sweeper:
            return

        def sweep():
            while True:
                time.sleep(IDLE_CHECK_S)
                try:
                    release_idle(records, lock)
                except Exception:  # never let the sweeper die: memory would grow again, silently
                    log.exception("releasing idle browsers failed")

        _sweeper.append(threading.Thread(target=sweep, name="lab-release-idle", daemon=True))
        _sweeper[0].start()


def release(rec) -> None:
    """Everything of this record that reloads from disk leaves memory (models from their
    checkpoints, results from app-runs/, logits recomputed); session.record() marks it in use again."""
    for job in rec.jobs:
        job.release()
    rec.results.clear()
    rec.released = True
