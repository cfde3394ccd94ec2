"""Shared job limits: at most N training jobs run at once in this process; the rest wait
in a first-in, first-out queue whose positions users can see, and can be cancelled.

    jobs = shared_queue()                                  # one per process, sized to the machine
    job = jobs.submit(lambda stop: train_teacher(dataset, stop=stop), owner=session_id)
    job.state, job.position, job.latest                    # "queued", 3, None ... "running", 0, Event
    jobs.eta(job)                                          # seconds until it starts (from recent jobs' times)
    job.cancel()                                           # queued: never runs; running: stop flag set
    job.wait(timeout)                                      # then job.result / job.error

`work(stop)` gets a threading.Event and returns either a value or an iterator (a training
generator): an iterator is drained in the job's thread, each item kept as `job.latest`
(and in `job.events`, the last few), so a page polls the job instead of owning the loop.
Work must honour `stop` (the lab's training generators do: they end within one step).

This module is plain Python (no Streamlit): the app keeps the Job in its session state.
"""
from __future__ import annotations

import collections
import heapq
import itertools
import statistics
import os
import threading
import time
from typing import Any, Callable

from ..cores import available_cores
from ..errors import LabError

STATES = ("queued", "running", "finished", "failed", "cancelled")
# Finished jobs an ETA needs: the first job of a server (or of a fresh worker) also loads the data
# and the teacher's logits (3-7 s against ~1 s for the next 1-epoch pairs of the load test): alone, or one
# of two, it told a class that arrives together to wait ~3 times too long (60 students: 0 of 29 within 50 %).
ETA_AFTER_JOBS = 3


def default_limit() -> int:
    """Concurrent jobs for this machine: $LAB_MAX_JOBS, else one per two cores (at least one).
    Each training job already uses several threads for its tensor maths; more jobs than that
    only make every job slower and the web server less responsive. Cores as the container's
    CPU quota allows, not the host's count (lab.cores)."""
    if os.environ.get("LAB_MAX_JOBS"):
        return max(1, int(os.environ["LAB_MAX_JOBS"]))
    return max(1, available_cores() // 2)


class Job:
    def __init__(self, queue: "JobQueue", work: Callable[[threading.Event], Any], label: str, owner: str | None,
                 keep_events: int, stop: threading.Event | None = None, session: str | None = None):
        self.id = next(queue._ids)
        self.label, self.owner, self.session = label, owner, session
        self.state = "queued"
        self.stop = stop or threading.Event()  # set by cancel(); the work checks it
        self.latest = None                     # the last item the work yielded
        self.events: collections.deque = collections.deque(maxlen=keep_events)
        self.result: Any = None                # the work's return value, or its last item
        self.error: BaseException | None = None
        self.submitted_at = time.time()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._queue, self._work = queue, work
        self._done = threading.Event()

    @property
    def position(self) -> int:
        """1 = next to start; 0 = not waiting (running or over)."""
        return self._queue.position(self)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> bool:
        """A queued job is removed and never runs; a running one is asked to stop. False if already over."""
        return self._queue.cancel(self)

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def _run(self) -> None:
        try:
            output = self._work(self.stop)
            if hasattr(output, "__next__"):  # a generator: drain it here, keeping the latest item
                for item in output:
                    self.latest = item
                    self.events.append(item)
                output = self.latest
            self.result, self.state = output, "finished"
        except BaseException as e:  # reported to the page through job.error; the thread must not die loudly
            self.error, self.state = e, "failed"
        finally:
            self.finished_at = time.time()
            self._queue._finished(self)

    def __repr__(self) -> str:
        return f"Job({self.id}, {self.label!r}, {self.state})"  # no lock taken here: repr may run under it


class JobQueue:
    def __init__(self, limit: int | None = None, max_per_owner: int | None = None, keep_events: int = 200):
        self.limit = limit or default_limit()
        self.max_per_owner = max_per_owner
        self.keep_events = keep_events
        self._lock = threading.Lock()
        self._waiting: collections.deque[Job] = collections.deque()
        self._running: set[Job] = set()
        self._ids = itertools.count(1)
        self._durations: collections.deque[float] = collections.deque(maxlen=20)  # recent jobs' run times

    def submit(self, work: Callable[[threading.Event], Any], label: str = "", owner: str | None = None,
               stop: threading.Event | None = None, session: str | None = None) -> Job:
        """Queue `work`; it starts now if a slot is free. `stop`: the caller's own stop flag, used by
        the job from the start (set before the job runs, the work sees it at once).

        `owner` (the browser's key, from its cookie) and `session` (the server's own id of the
        connection) are each held to `max_per_owner` active jobs: a client that drops its cookie
        becomes a new owner, but its connection is still the same session."""
        with self._lock:
            if self.max_per_owner is not None:
                for key in {owner, session} - {None}:
                    active = sum(key in (j.owner, j.session) for j in itertools.chain(self._waiting, self._running))
                    if active >= self.max_per_owner:
                        raise LabError(f"You already have {active} training job(s) running or waiting. "
                                       "Wait for one to finish, or cancel one.")
            job = Job(self, work, label, owner, self.keep_events, stop, session)
            self._waiting.append(job)
            self._start_what_fits()
        return job

    def position(self, job: Job) -> int:
        with self._lock:
            for place, waiting in enumerate(self._waiting, start=1):
                if waiting is job:
                    return place
            return 0

    def cancel(self, job: Job) -> bool:
        with self._lock:
            if any(waiting is job for waiting in self._waiting):
                self._waiting.remove(job)
                job.state, job.finished_at = "cancelled", time.time()
                job._done.set()
                return True
            if job in self._running:
                job.stop.set()
                return True
            return False

    def eta(self, job: Job) -> float | None:
        """Seconds until a queued job starts: the jobs ahead of it each take the median run time of
        the last 20 finished jobs, the running ones what is left of theirs, in the first slot to
        free up. None until ETA_AFTER_JOBS jobs have finished (or when the job is not queued)."""
        with self._lock:
            if len(self._durations) < ETA_AFTER_JOBS or job not in self._waiting:
                return None
            typical = statistics.median(self._durations)
            now = time.time()
            free_at = [max(typical - (now - j.started_at), 0.0) for j in self._running if j.started_at]
            free_at += [0.0] * (self.limit - len(free_at))  # a free slot (its job starts this very moment)
            heapq.heapify(free_at)
            for ahead in self._waiting:
                if ahead is job:
                    return free_at[0]
                heapq.heapreplace(free_at, free_at[0] + typical)
        return None

    def snapshot(self) -> dict:
        """What a status panel shows: the running jobs and the queue, in order."""
        with self._lock:
            return {"limit": self.limit, "running": [(j.id, j.label, j.owner) for j in self._running],
                    "waiting": [(j.id, j.label, j.owner) for j in self._waiting]}

    def _start_what_fits(self) -> None:  # called with the lock held
        while self._waiting and len(self._running) < self.limit:
            job = self._waiting.popleft()
            self._running.add(job)
            job.state, job.started_at = "running", time.time()
            # Daemon: a server shutting down does not wait for training threads.
            threading.Thread(target=job._run, name=f"lab-job-{job.id}", daemon=True).start()

    def _finished(self, job: Job) -> None:
        with self._lock:
            self._running.discard(job)
            if job.started_at is not None and job.state == "finished":
                self._durations.append(job.finished_at - job.started_at)
            job._done.set()
            self._start_what_fits()


_shared: JobQueue | None = None
_shared_lock = threading.Lock()


def shared_queue() -> JobQueue:
    """The process-wide queue every session of the app submits to."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = JobQueue(max_per_owner=2)
        return _shared
