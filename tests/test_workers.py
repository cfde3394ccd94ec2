"""Warm worker processes (lab/serve/workers.py): a job's events come back in order, Stop reaches the
worker while it trains, a killed worker ends its job with a clear error and is replaced, and no
worker outlives a server that is killed mid-job."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from lab.errors import LabError
from lab.recipes import STUDENT_CONFIG, TEACHER_CONFIG
from lab.serve import tasks, workers
from lab.serve.tasks import Measured, Task, TeacherRef

ROOT = Path(__file__).resolve().parent.parent
TEACHER = TeacherRef(str(ROOT / "assets" / "teacher-mnist-sample"))
WAIT = 180  # seconds: a safety net against a hung test, never a measured time


def pair_task(epochs: int = 1) -> Task:
    return Task("lab.serve.tasks:pair", {"dataset": "mnist-sample", "teacher": TEACHER, "student": "student-mlp",
                                         "T": 4.0, "alpha": 0.9,
                                         "config": replace(STUDENT_CONFIG, epochs=epochs, device="cpu")})


def long_teacher_task() -> Task:
    """A teacher run long enough to be interrupted, reporting every step."""
    config = replace(TEACHER_CONFIG, epochs=20, device="cpu", report_every=1)
    return Task("lab.serve.tasks:teacher", {"dataset": "mnist-sample", "arch": "teacher-cnn", "config": config})


@pytest.fixture
def pool():
    pool = workers.WorkerPool(1, threads=1)
    assert pool.wait_ready(WAIT), "the worker did not start"
    yield pool
    pool.close()


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (a dead child nobody has reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_a_pairs_events_come_back_in_order_as_the_same_run_in_this_process(pool):
    """The worker runs the very code a thread would: same events in the same order, same numbers
    (one torch thread on both sides, the same seed: bit for bit), the measured models at the end."""
    remote = list(pool.events(pair_task()))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = list(pair_task()(None))
    finally:
        torch.set_num_threads(threads)

    def trace(items):
        return [(name, type(e).__name__, getattr(e, "kind", None), getattr(e, "step", None), getattr(e, "loss", None))
                for name, e in items]

    assert trace(remote) == trace(local)
    assert [type(e).__name__ for _, e in remote[-2:]] == ["Measured", "Measured"]
    kinds = [e.kind for name, e in remote if name == "hard" and not isinstance(e, Measured)]
    assert kinds[0] == "start" and kinds[-1] == "finished" and kinds.count("finished") == 1
    steps = [e.step for name, e in remote if name == "hard" and not isinstance(e, Measured)]
    assert steps == sorted(steps)
    measured = {name: e for name, e in remote if isinstance(e, Measured)}
    expected = {name: e for name, e in local if isinstance(e, Measured)}
    assert measured["distilled"].metrics["paired"] == expected["distilled"].metrics["paired"]
    assert torch.equal(measured["hard"].test_logits, expected["hard"].test_logits)
    for a, b in zip(measured["distilled"].model.parameters(), expected["distilled"].model.parameters()):
        assert torch.equal(a, b)


def test_stop_reaches_the_worker_while_it_trains(pool):
    """Stop is a control message read by a thread of the worker, not something the training loop has
    to finish a step to see: the run ends "stopped" within a step or two of the request (every
    step is reported here, and this reader keeps up with them)."""
    requested, asked_at, latency = [], None, None
    events = pool.events(long_teacher_task(), stop=lambda: bool(requested))
    last = None
    for name, event in events:
        last = event
        if getattr(event, "kind", None) == "step" and event.step >= 3 and not requested:
            requested.append(event.step)
            asked_at = time.monotonic()
    latency = time.monotonic() - asked_at
    assert last.kind == "stopped", last
    assert requested[0] < last.step <= requested[0] + 3, (requested, last.step, last.total_steps)
    assert last.step < last.total_steps
    print(f"stop: {latency * 1000:.0f} ms from the request to the run's last event")
    assert list(pool.events(pair_task()))[-1][1].metrics["test_accuracy"] > 0.5  # the worker takes the next job


def test_a_killed_worker_ends_its_job_with_a_message_and_is_replaced(pool):
    [pid] = pool.pids()
    events = pool.events(long_teacher_task())
    with pytest.raises(LabError, match="The training process died \\(killed by signal SIGKILL\\)"):
        for name, event in events:
            if getattr(event, "kind", None) == "step" and alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert pool.wait_ready(WAIT)
    [replacement] = pool.pids()
    assert replacement != pid and alive(replacement) and not alive(pid)
    last = list(pool.events(pair_task()))[-1][1]  # the replacement trains the next job
    assert isinstance(last, Measured) and last.metrics["test_accuracy"] > 0.5


def test_a_failing_job_raises_its_own_error_here_and_the_worker_lives_on(pool):
    [pid] = pool.pids()
    broken = Task("lab.serve.tasks:pair", {**pair_task().spec, "dataset": "no-such-dataset"})
    with pytest.raises(LabError, match="Unknown dataset 'no-such-dataset'"):
        list(pool.events(broken))
    assert pool.pids() == [pid]
    assert list(pool.events(pair_task()))[-1][1].metrics["test_accuracy"] > 0.5


SERVER = """
import json, sys, threading, time
from dataclasses import replace
from lab.recipes import TEACHER_CONFIG
from lab.serve import workers
from lab.serve.tasks import Task

if __name__ == "__main__":
    pool = workers.WorkerPool(2, threads=1)
    pool.wait_ready(180)
    config = replace(TEACHER_CONFIG, epochs=50, device="cpu", report_every=1)
    task = Task("lab.serve.tasks:teacher", {"dataset": "mnist-sample", "arch": "teacher-cnn", "config": config})
    started = threading.Event()

    def job():
        for name, event in pool.events(task):
            started.set()
    threading.Thread(target=job, daemon=True).start()
    started.wait(180)
    print(json.dumps(pool.pids()), flush=True)
    time.sleep(600)
"""


def test_killing_the_server_mid_job_leaves_no_worker_behind(tmp_path):
    """A server-like process starts two workers, one of them training; SIGKILL (no cleanup of any
    kind runs) must take both workers with it."""
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        pids = json.loads(server.stdout.readline())
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
        server.send_signal(signal.SIGKILL)
        server.wait(WAIT)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in pids if alive(pid)], "workers outlived the server"
    finally:
        if server.poll() is None:
            server.kill()


def test_a_task_is_small_whatever_it_trains():
    """What travels to a worker is names and numbers: the dataset and the teacher are loaded there."""
    import pickle
    assert len(pickle.dumps(pair_task())) < 2_000
    assert tasks.TeacherRef(TEACHER.folder).load() is not tasks.TeacherRef(TEACHER.folder).load()  # a copy each
