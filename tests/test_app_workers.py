"""The app with its default backend under a real server (LAB_BACKEND=processes): a pair, a teacher
and an experiment train in warm worker processes, with the same pages, panels, Stop and history as
with threads; the server process itself never trains."""
from __future__ import annotations

import importlib
import os
import time

import pytest

import helpers

WAIT = 240  # seconds: a safety net against a hung test, never a measured time


@pytest.fixture
def process_backend(monkeypatch):
    jobs = importlib.import_module("app_pages._app.jobs")
    monkeypatch.setenv("LAB_BACKEND", "processes")
    monkeypatch.delenv("LAB_RAY_ADDRESS", raising=False)
    monkeypatch.setattr(jobs, "_backend", None)  # chosen again, from the environment
    backend = jobs.backend()
    assert backend.name == "processes" and backend.pool.wait_ready(WAIT)
    trained_here = []
    import lab.serve.tasks as tasks
    real = tasks.run

    def run(task, stop):  # a task run in this process (a thread) instead of a worker
        trained_here.append(task)
        return real(task, stop)

    monkeypatch.setattr(tasks, "run", run)
    yield backend, trained_here
    backend.pool.close()
    monkeypatch.setattr(jobs, "_backend", None)


def test_a_pair_trains_in_a_worker_process_and_lands_in_the_history(process_backend):
    backend, trained_here = process_backend
    at = helpers.app({"epochs": "1", "student": "student-mlp", "T": "3"})
    at.switch_page("app_pages/distill.py").run()
    next(b for b in at.button if "Train both" in b.label).click().run()
    job = helpers.wait_for_job(at, "distill", timeout=WAIT)
    helpers.ok(at, "Distill in a worker")
    assert job.status == "finished", job.message
    assert trained_here == []  # the worker ran it, not this process
    hard, distilled = job.runs["hard"], job.runs["distilled"]
    assert hard.history[0]["step"] == distilled.history[0]["step"]  # live events streamed back, in turns
    assert 0.5 < distilled.metrics["test_accuracy"] <= 1 and distilled.model is not None
    assert distilled.metrics["paired"]["n"] == len(distilled.test_logits)
    assert {job.store.get_run(r.record_id).status for r in (hard, distilled)} == {"finished"}
    assert "T=3" in job.label
    at.switch_page("app_pages/compare.py").run()
    helpers.ok(at, "Compare after a worker's pair")


def test_stop_reaches_the_worker_and_the_experiment_ends_stopped(process_backend):
    at = helpers.app()
    at.switch_page("app_pages/experiments.py")
    at.session_state["x_experiment"] = "sweep"
    at.run()
    at.selectbox(key="w_x_sweep_student").set_value("student-mlp")
    at.multiselect(key="w_x_sweep_T").set_value([2.0, 4.0])
    at.multiselect(key="w_x_sweep_alpha").set_value([0.0, 0.9])
    at.number_input(key="w_x_sweep_seeds").set_value(1)
    at.number_input(key="w_x_sweep_epochs").set_value(40).run()  # minutes, unless stopped
    next(b for b in at.button if b.label.startswith("Run")).click().run()
    job = [j for j in at.session_state["jobs"] if j.kind == "experiment"][-1]
    deadline = time.monotonic() + WAIT
    while not (job.latest is not None and job.latest.event is not None and job.latest.event.step >= 2):
        assert time.monotonic() < deadline and not job.done, job.message
        time.sleep(0.3)
        at.run()
    next(b for b in at.button if b.label == "Stop").click().run()
    job.thread.join(timeout=60)
    assert not job.thread.is_alive(), "the job did not end after Stop"
    at.run()
    assert job.status == "stopped" and job.result is None
    assert os.environ["LAB_BACKEND"] == "processes"


def test_a_teacher_trained_in_a_worker_teaches_the_next_pair(process_backend):
    """The teacher's job trains and measures it in a worker; its checkpoint is what the pair's task
    carries (a folder, not the model) and the worker loads."""
    backend, trained_here = process_backend
    at = helpers.app({"dataset": "mnist-sample", "epochs": "1", "student": "student-mlp"})
    at.switch_page("app_pages/teacher.py").run()
    at.selectbox(key="w_teacher_arch").set_value("student-mlp")
    at.number_input(key="w_teacher_epochs").set_value(1)
    next(b for b in at.button if "Train teacher" in b.label).click().run()
    teacher = helpers.wait_for_job(at, "teacher", timeout=WAIT)
    helpers.ok(at, "Teacher in a worker")
    assert teacher.status == "finished", teacher.message
    assert teacher.runs["teacher"].metrics["test_accuracy"] > 0.5 and teacher.runs["teacher"].checkpoint
    at.session_state["teacher_choice"] = teacher.key
    at.switch_page("app_pages/distill.py").run()
    next(b for b in at.button if "Train both" in b.label).click().run()
    pair = helpers.wait_for_job(at, "distill", timeout=WAIT)
    assert pair.status == "finished" and pair.teacher_key == teacher.key, pair.message
    assert trained_here == []
