import json
import subprocess
import sys
import threading
from dataclasses import replace

import pytest
import torch

from lab.errors import LabError
from lab.serve.jobs import JobQueue, default_limit
from lab.recipes import STUDENT_CONFIG, train_teacher
from lab.serve.teacher_cache import cache_folder, cached_teacher

WAIT = 60  # seconds: only a safety net against a hung test, never a measured time


class Gate:
    """Work that records when it starts and then waits until the test opens its gate."""

    def __init__(self, name, log, lock):
        self.name, self.log, self.lock = name, log, lock
        self.started, self.gate = threading.Event(), threading.Event()

    def __call__(self, stop):
        with self.lock:
            self.log.append(self.name)
        self.started.set()
        assert self.gate.wait(WAIT)
        return self.name


def test_jobs_start_in_order_show_their_position_and_can_be_cancelled():
    jobs, log, lock = JobQueue(limit=1), [], threading.Lock()
    gates = {name: Gate(name, log, lock) for name in "ABCD"}
    submitted = {name: jobs.submit(gate, label=name) for name, gate in gates.items()}
    assert gates["A"].started.wait(WAIT)
    assert [submitted[n].state for n in "ABCD"] == ["running", "queued", "queued", "queued"]
    assert [submitted[n].position for n in "ABCD"] == [0, 1, 2, 3]
    assert submitted["C"].cancel()
    assert submitted["C"].state == "cancelled" and submitted["C"].done and submitted["C"].position == 0
    assert submitted["D"].position == 2 and [w[1] for w in jobs.snapshot()["waiting"]] == ["B", "D"]
    for name in "ABD":
        gates[name].gate.set()
        assert submitted[name].wait(WAIT)
    assert log == ["A", "B", "D"]  # first in, first out; the cancelled job never ran
    assert [submitted[n].result for n in "ABD"] == ["A", "B", "D"]
    assert not submitted["A"].cancel()  # over: nothing to cancel


def test_no_more_than_the_limit_run_at_once():
    jobs, log, lock = JobQueue(limit=2), [], threading.Lock()
    running, most = [0], [0]

    def counted(gate):
        def work(stop):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            try:
                return gate(stop)
            finally:
                with lock:
                    running[0] -= 1
        return work
    gates = [Gate(i, log, lock) for i in range(6)]
    submitted = [jobs.submit(counted(g)) for g in gates]
    assert gates[0].started.wait(WAIT) and gates[1].started.wait(WAIT)
    assert [j.state for j in submitted] == ["running"] * 2 + ["queued"] * 4
    for g in gates:
        g.gate.set()
    assert all(j.wait(WAIT) for j in submitted)
    assert most[0] == 2 and sorted(log) == list(range(6)) and log[:2] == [0, 1]
    assert 1 <= default_limit() <= 64


def test_a_failing_job_frees_its_slot_and_keeps_its_error():
    jobs = JobQueue(limit=1)

    def broken(stop):
        raise ValueError("bad settings")
    first = jobs.submit(broken)
    second = jobs.submit(lambda stop: 42)
    assert first.wait(WAIT) and second.wait(WAIT)
    assert first.state == "failed" and str(first.error) == "bad settings"
    assert second.state == "finished" and second.result == 42


def test_owners_cannot_flood_the_queue():
    jobs, log, lock = JobQueue(limit=1, max_per_owner=2), [], threading.Lock()
    gate = Gate("x", log, lock)
    jobs.submit(gate, owner="ada")
    jobs.submit(gate, owner="ada")
    with pytest.raises(LabError, match="already have 2"):
        jobs.submit(gate, owner="ada")
    other = jobs.submit(lambda stop: "ok", owner="bob")  # someone else still gets in line
    assert other.position == 2
    gate.gate.set()
    assert other.wait(WAIT) and other.result == "ok"


def test_the_cap_holds_for_a_connection_that_drops_its_cookie():
    """Without its cookie a browser is a new owner key on every job it asks for; the connection's
    own session id is the server's and still counts its jobs."""
    jobs, log, lock = JobQueue(limit=1, max_per_owner=2), [], threading.Lock()
    gate = Gate("x", log, lock)
    jobs.submit(gate, owner="ada-1", session="tab-1")
    jobs.submit(gate, owner="ada-2", session="tab-1")
    with pytest.raises(LabError, match="already have 2"):
        jobs.submit(gate, owner="ada-3", session="tab-1")
    jobs.submit(gate, owner="ada-1", session="tab-2")  # a second tab of the first key: its second job
    with pytest.raises(LabError, match="already have 2"):  # a new connection does not lift a key's cap
        jobs.submit(gate, owner="ada-1", session="tab-3")
    assert [j[2] for j in jobs.snapshot()["waiting"]] == ["ada-2", "ada-1"]  # the queue still shows owners
    other = jobs.submit(lambda stop: "ok", owner="bob", session="tab-3")  # someone else still gets in line
    gate.gate.set()
    assert other.wait(WAIT) and other.result == "ok"


def test_a_queued_job_is_told_when_it_starts_from_how_long_jobs_ran(monkeypatch):
    """The ETA of a queued job, by hand: recent jobs took 10 s (median); running jobs have
    what is left of theirs; each job ahead takes the first slot to free up."""
    import types

    import lab.serve.jobs as module
    now = [100.0]
    monkeypatch.setattr(module, "time", types.SimpleNamespace(time=lambda: now[0]))
    for limit, expected in ((1, [6.0, 16.0, 26.0]), (2, [6.0, 8.0, 16.0])):
        jobs, log, lock = JobQueue(limit=limit), [], threading.Lock()
        for seconds in (9.0, 10.0, 12.0):  # three finished jobs: median 10 s
            quick = Gate("done", log, lock)
            job = jobs.submit(quick)
            assert quick.started.wait(WAIT)
            now[0] += seconds
            quick.gate.set()
            assert job.wait(WAIT)
        gates, running = [Gate(i, log, lock) for i in range(limit)], []
        for gate in gates:  # one started 4 s ago; with two slots, the other 2 s ago
            running.append(jobs.submit(gate))
            assert gate.started.wait(WAIT)
            now[0] += 4.0 / limit
        queued = [jobs.submit(Gate(f"q{i}", log, lock)) for i in range(3)]
        assert [jobs.eta(j) for j in queued] == expected, limit
        assert jobs.eta(running[0]) is None  # not waiting
        for job in queued:
            job.cancel()
        for gate in gates:
            gate.gate.set()


def test_no_eta_until_three_jobs_finished_so_a_cold_first_job_does_not_set_it(monkeypatch):
    """A server's first job also loads the data (here 5 s against 1 s): with two finished jobs
    the median would be 3 s, so no estimate is shown; the third gives median 1 s, and the job
    behind one that started 0.25 s ago starts in 1 - 0.25 = 0.75 s."""
    import types

    import lab.serve.jobs as module
    now = [100.0]
    monkeypatch.setattr(module, "time", types.SimpleNamespace(time=lambda: now[0]))
    jobs, log, lock = JobQueue(limit=1), [], threading.Lock()

    def finish(seconds, gate, job):
        assert gate.started.wait(WAIT)
        now[0] += seconds
        gate.gate.set()
        assert job.wait(WAIT)

    for seconds in (5.0, 1.0):
        gate = Gate("done", log, lock)
        finish(seconds, gate, jobs.submit(gate))
    third = Gate("third", log, lock)
    third_job = jobs.submit(third)
    gates = [Gate(f"q{i}", log, lock) for i in range(2)]
    queued = [jobs.submit(g) for g in gates]
    assert [jobs.eta(j) for j in queued] == [None, None]  # two finished jobs: no estimate yet
    finish(1.0, third, third_job)                         # the third: median of 5, 1, 1 = 1 s
    assert gates[0].started.wait(WAIT)
    now[0] += 0.25
    assert jobs.eta(queued[1]) == 0.75
    for gate in gates:
        gate.gate.set()


def test_cancelling_a_running_training_job_stops_it(sample):
    jobs = JobQueue(limit=1)
    first_event = threading.Event()
    config = replace(STUDENT_CONFIG, epochs=50, device="cpu")

    def work(stop):
        for event in train_teacher(sample, "student-mlp", config, stop):
            first_event.set()
            yield event
    job = jobs.submit(work, label="long run")
    assert first_event.wait(WAIT)
    assert job.cancel()
    assert job.wait(WAIT)
    assert job.latest.kind == "stopped" and job.result is job.latest
    assert job.latest.step < job.latest.total_steps
    assert [e.kind for e in job.events][0] == "start"


# ---------------------------------------------------------------- the teacher cache

TINY = replace(STUDENT_CONFIG, epochs=1, device="cpu")


def test_one_teacher_configuration_is_trained_once_by_threads(sample, tmp_path):
    outcomes = []

    def ask():
        outcomes.append(cached_teacher(sample, "student-mlp", TINY, root=tmp_path))
    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 3)
    assert len(outcomes) == 3 and sum(trained for _, _, trained in outcomes) == 1
    weights = [model.state_dict()["head.weight"] for model, _, _ in outcomes]
    assert all(torch.equal(weights[0], w) for w in weights[1:])
    assert outcomes[0][1]["metrics"]["test_accuracy"] > 0.5
    # Another configuration is another teacher; the device is not part of the key.
    assert cache_folder(sample, "student-mlp", replace(TINY, seed=1), tmp_path) != cache_folder(sample, "student-mlp", TINY, tmp_path)
    assert cache_folder(sample, "student-mlp", replace(TINY, device="cuda"), tmp_path) == cache_folder(sample, "student-mlp", TINY, tmp_path)


def test_one_teacher_configuration_is_trained_once_by_processes(tmp_path):
    code = f"""
import json, torch
from dataclasses import replace
torch.set_num_threads(1)
from lab.data import load
from lab.recipes import STUDENT_CONFIG
from lab.serve.teacher_cache import cached_teacher
model, card, trained = cached_teacher(load("mnist-sample"), "student-mlp",
                                      replace(STUDENT_CONFIG, epochs=1, device="cpu"), root={str(tmp_path)!r})
print(json.dumps({{"trained": trained, "sum": float(model.head.weight.sum())}}))
"""
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    results = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for p in procs]
    assert sorted(r["trained"] for r in results) == [False, True]
    assert results[0]["sum"] == results[1]["sum"]


def test_a_damaged_cache_entry_is_trained_again(sample, tmp_path):
    _, _, trained = cached_teacher(sample, "student-mlp", TINY, root=tmp_path)
    assert trained
    folder = cache_folder(sample, "student-mlp", TINY, tmp_path)
    (folder / "model.safetensors").write_bytes(b"garbage")
    _, _, trained = cached_teacher(sample, "student-mlp", TINY, root=tmp_path)
    assert trained
    assert not cached_teacher(sample, "student-mlp", TINY, root=tmp_path)[2]
