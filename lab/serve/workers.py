"""Warm worker processes that train the server's jobs, so the web server's interpreter never does.

    pool = WorkerPool(size)                # once per server (the app's ProcessBackend): they start at once
    for item in pool.events(task, stop):   # task: a picklable lab.serve.tasks.Task
        ...                                # the items task(stop) yields, in order, as they are made

Each worker is a fresh interpreter (`python -m lab.serve.workers`, started with the two ends of
its pipes) that imports torch once, trains with one torch thread (LAB_THREADS) at a lower CPU
priority than the server (nice LAB_WORKER_NICE, 10), and runs one job at a time. Every event comes back pickled over a pipe; the server thread that
reads it (the job's thread in lab.serve.jobs' queue) only waits on the pipe. Stop: the server
sends a control message, a thread of the worker sets the job's flag at once, and the training
generator checks it before every step.

A worker that dies (killed, out of memory) ends its job with a LabError that says so, and a
fresh one replaces it. No worker outlives the server: the kernel kills it when the server's
thread that started it ends (PR_SET_PDEATHSIG, Linux: they are all started from one thread that
lives as long as the process), a watchdog thread exits when its parent changes, and the end of
the control pipe (the server closed or died) ends it too.
"""
from __future__ import annotations

import ctypes
import itertools
import logging
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Iterator

from ..errors import LabError

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]  # the folder `lab` is in: the worker imports it from there
POLL_S = 0.05          # the job's thread checks Stop this often while it waits for the next event
START_TIMEOUT_S = 180  # a worker that is not ready by then (torch import, warm-up) is replaced
RESTART_TRIES = 3      # failed starts in a row before waiting jobs get an error


def _stop_requested(stop) -> bool:
    if stop is None:
        return False
    return stop.is_set() if hasattr(stop, "is_set") else bool(stop())


class WorkerDied(Exception):
    pass


# ---------------------------------------------------------------- inside a worker process

def _die_with_parent(parent_pid: int) -> None:
    """Never outlive the server: the kernel's parent-death signal, and a watchdog thread."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # it died before the line above
        os._exit(0)

    def watchdog():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watchdog, name="lab-worker-watchdog", daemon=True).start()


def _warm() -> None:
    """What the first job would otherwise wait for: the first optimizer imports torch._dynamo (seconds)."""
    import torch
    torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))])
    from . import tasks  # noqa: F401  (the lab's training code)


def worker_main(inbox, outbox, parent_pid: int, threads: int, niceness: int) -> None:
    """A worker's whole life: start, then run the jobs it is sent, one at a time."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the whole process group: the server decides
    try:
        os.nice(niceness)
    except OSError:
        pass
    import torch
    torch.set_num_threads(threads)
    _warm()
    from .tasks import run

    send_lock, stops, runs = threading.Lock(), {}, queue.Queue()

    def send(message) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        with send_lock:
            outbox.send_bytes(data)

    def control():  # the server's messages, read while the main thread trains
        while True:
            try:
                message = pickle.loads(inbox.recv_bytes())
            except (EOFError, OSError):  # the server is gone
                os._exit(0)
            if message[0] == "run":
                stops[message[1]] = threading.Event()
                runs.put(message)
            elif message[0] == "stop" and message[1] in stops:
                stops[message[1]].set()
            elif message[0] == "quit":
                os._exit(0)

    threading.Thread(target=control, name="lab-worker-control", daemon=True).start()
    send(("ready", os.getpid()))
    while True:
        _, job_id, task = runs.get()
        stop = stops[job_id]
        try:
            for item in run(task, stop.is_set):
                send(("event", job_id, item))
            send(("done", job_id))
        except BaseException as e:  # handed to the server: the job ends with it, the worker lives on
            send(("error", job_id, _picklable(e), traceback.format_exc()))
        finally:
            stops.pop(job_id, None)


def _picklable(error: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")


# ---------------------------------------------------------------- in the server

class Worker:
    """The server's side of one worker process: its pipes and whether it is free."""

    def __init__(self, process, inbox, outbox):
        self.process, self.inbox, self.outbox = process, inbox, outbox
        self.pid = process.pid

    def send(self, message) -> None:
        try:
            self.inbox.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
        except (OSError, ValueError) as e:
            raise WorkerDied() from e

    def receive(self, timeout: float):
        """The next message, or None if none came within `timeout`."""
        try:
            if not self.outbox.poll(timeout):
                return None
            return pickle.loads(self.outbox.recv_bytes())
        except (EOFError, OSError) as e:
            raise WorkerDied() from e

    def how_it_died(self) -> str:
        try:
            code = self.process.wait(2)
        except subprocess.TimeoutExpired:
            return "it stopped answering"
        if code < 0:
            try:
                return f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"

    def kill(self) -> None:
        for end in (self.inbox, self.outbox):
            try:
                end.close()
            except OSError:
                pass
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            log.error("worker %d did not end after SIGKILL", self.pid)


class WorkerPool:
    """`size` warm worker processes; `events(task, stop)` runs a task on a free one."""

    def __init__(self, size: int, threads: int | None = None, niceness: int | None = None):
        self.size = max(1, int(size))
        self.threads = threads or int(os.environ.get("LAB_THREADS") or 1)
        self.niceness = int(os.environ.get("LAB_WORKER_NICE", "10")) if niceness is None else niceness
        self._lock = threading.Condition()
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()
        self._starting = 0
        self._failures = 0
        self._problem: str | None = None
        self._closed = False
        self._ids = itertools.count(1)
        self._requests: queue.Queue = queue.Queue()
        # Every worker is started by this one thread, which lives as long as the process: the
        # parent-death signal fires when the *thread* that started a process ends (a Streamlit
        # script thread ends after every page run).
        threading.Thread(target=self._spawner, name="lab-worker-spawner", daemon=True).start()
        for _ in range(self.size):
            self._request()

    # -- what a job's thread calls

    def events(self, task, stop=None) -> Iterator:
        """The items of `task(stop)`, computed in a worker. The work's exceptions are re-raised here;
        a worker that dies raises a LabError that says so (and is replaced)."""
        worker = self._acquire(stop)
        if worker is None:  # stopped while it waited for a worker
            return
        job_id, clean = next(self._ids), False
        try:
            worker.send(("run", job_id, task))
            asked = False
            while True:
                if not asked and _stop_requested(stop):
                    worker.send(("stop", job_id))
                    asked = True
                message = worker.receive(POLL_S)
                if message is None:
                    continue
                if message[0] == "event":
                    yield message[2]
                elif message[0] == "done":
                    clean = True
                    return
                elif message[0] == "error":
                    clean = True
                    log.warning("worker %d: the job failed; its traceback there:\n%s", worker.pid, message[3])
                    raise message[2]
        except WorkerDied:
            how = worker.how_it_died()
            log.error("worker %d died while running a job (%s); starting another one", worker.pid, how)
            raise LabError(f"The training process died ({how}) while it ran this job. Start it again; if it "
                           "happens again, the server may be short of memory (see its log).") from None
        finally:
            if clean:
                self._release(worker)
            else:  # it died, or the caller stopped reading mid-job: a fresh one replaces it
                self._retire(worker)

    def pids(self) -> list[int]:
        with self._lock:
            return sorted(w.pid for w in self._all)

    def wait_ready(self, timeout: float) -> bool:
        """True once every worker has started (tests, warm-up)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._all) < self.size or self._starting:
                left = deadline - time.monotonic()
                if left <= 0 or self._problem:
                    return False
                self._lock.wait(min(left, 0.5))
            return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers, self._all, self._idle = list(self._all), set(), []
            self._lock.notify_all()
        self._requests.put(None)
        for worker in workers:
            worker.kill()

    # -- the pool's bookkeeping

    def _acquire(self, stop) -> Worker | None:
        with self._lock:
            while not self._idle:
                if self._closed:
                    raise LabError("The server is shutting down: this job cannot start.")
                if self._problem and not self._all and not self._starting:
                    raise LabError(self._problem)
                if _stop_requested(stop):
                    return None
                self._lock.wait(POLL_S)
            return self._idle.pop()

    def _release(self, worker: Worker) -> None:
        with self._lock:
            if worker in self._all:
                self._idle.append(worker)
                self._lock.notify_all()

    def _retire(self, worker: Worker) -> None:
        with self._lock:
            self._all.discard(worker)
            if worker in self._idle:
                self._idle.remove(worker)
        worker.kill()
        self._request()

    def _request(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._starting += 1
        self._requests.put("start")

    def _spawner(self) -> None:
        while self._requests.get() is not None:
            worker = None
            try:
                worker = self._start_one()
            except Exception as e:  # reported to waiting jobs after a few tries, and in the log
                log.exception("a training worker could not start")
                error = e
            with self._lock:
                self._starting -= 1
                if worker is not None and not self._closed:
                    self._all.add(worker)
                    self._idle.append(worker)
                    self._failures, self._problem = 0, None
                elif worker is None:
                    self._failures += 1
                    if self._failures >= RESTART_TRIES:
                        self._problem = (f"The training processes cannot start ({type(error).__name__}: {error}). "
                                         "Whoever runs the server: see its log.")
                    else:
                        self._starting += 1
                        self._requests.put("start")
                self._lock.notify_all()
            if worker is not None and self._closed:
                worker.kill()

    def _start_one(self) -> Worker:
        """A fresh interpreter (not multiprocessing's spawn, which re-imports the parent's __main__:
        in a server, that is whichever page script Streamlit is running at that moment)."""
        to_worker, inbox = os.pipe()    # (read end, write end)
        outbox, from_worker = os.pipe()
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "lab.serve.workers", str(to_worker), str(from_worker), str(os.getpid()),
                 str(self.threads), str(self.niceness)],
                pass_fds=(to_worker, from_worker), stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": path})
        except OSError:
            for fd in (inbox, outbox):
                os.close(fd)
            raise
        finally:
            os.close(to_worker)  # the worker's ends: closed here, so its death reads as end-of-file
            os.close(from_worker)
        inbox, outbox = Connection(inbox, readable=False), Connection(outbox, writable=False)
        worker = Worker(process, inbox, outbox)
        message = worker.receive(START_TIMEOUT_S)
        if message is None or message[0] != "ready":
            worker.kill()
            raise RuntimeError(f"worker {worker.pid} did not start within {START_TIMEOUT_S} s")
        log.info("training worker %d ready (nice %d, %d torch thread(s))", worker.pid, self.niceness, self.threads)
        return worker


if __name__ == "__main__":  # a worker: python -m lab.serve.workers INBOX_FD OUTBOX_FD PARENT_PID THREADS NICE
    inbox_fd, outbox_fd, parent, torch_threads, nice = map(int, sys.argv[1:6])
    worker_main(Connection(inbox_fd, writable=False), Connection(outbox_fd, readable=False), parent, torch_threads,
                nice)
