"""The app with LAB_RAY_ADDRESS set: a student pair, an experiment and a Stop go through a local Ray
(the same pages, panels and history as with threads; the training happens in a Ray worker)."""
from __future__ import annotations

import os
import time

import pytest

import helpers

pytest.importorskip("ray")


@pytest.fixture
def ray_backend(local_ray, monkeypatch):
    from lab.serve import ray_runner
    jobs = __import__("app_pages._app.jobs", fromlist=["backend"])
    monkeypatch.setenv("LAB_RAY_ADDRESS", "local")
    monkeypatch.setattr(jobs, "_backend", None)  # chosen again, from the environment
    trained_in = []
    real = ray_runner.remote_events

    def remote_events(work, stop=None, **kw):  # note every job that went to Ray
        trained_in.append(work)
        yield from real(work, stop, **kw)

    monkeypatch.setattr(ray_runner, "remote_events", remote_events)
    yield trained_in
    monkeypatch.setattr(jobs, "_backend", None)


def test_a_pair_trains_on_ray_and_lands_in_the_history(ray_backend):
    at = helpers.app({"epochs": "1", "student": "student-mlp"})
    from app_pages._app import jobs
    assert jobs.backend().name == "ray"
    at.switch_page("app_pages/distill.py").run()
    next(b for b in at.button if "Train both" in b.label).click().run()
    job = helpers.wait_for_job(at, "distill", timeout=240)
    helpers.ok(at, "Distill on Ray")
    assert job.status == "finished", job.message
    assert len(ray_backend) == 1
    hard, distilled = job.runs["hard"], job.runs["distilled"]
    assert hard.history[0]["step"] == distilled.history[0]["step"]  # live events streamed back, in turns
    assert 0.5 < distilled.metrics["test_accuracy"] <= 1 and distilled.model is not None
    rows = {job.store.get_run(r.record_id).status for r in (hard, distilled)}
    assert rows == {"finished"}
    at.switch_page("app_pages/compare.py").run()
    helpers.ok(at, "Compare after Ray")


def _sweep_page(epochs: int):
    at = helpers.app()
    at.switch_page("app_pages/experiments.py")
    at.session_state["x_experiment"] = "sweep"
    at.run()
    at.selectbox(key="w_x_sweep_student").set_value("student-mlp")
    at.multiselect(key="w_x_sweep_T").set_value([2.0, 4.0])
    at.multiselect(key="w_x_sweep_alpha").set_value([0.0, 0.9])
    at.number_input(key="w_x_sweep_seeds").set_value(1)
    at.number_input(key="w_x_sweep_epochs").set_value(epochs).run()
    next(b for b in at.button if b.label.startswith("Run")).click().run()
    return at, [j for j in at.session_state["jobs"] if j.kind == "experiment"][-1]


def test_an_experiment_runs_on_ray_and_stop_stops_it(ray_backend):
    at, job = _sweep_page(epochs=1)
    deadline = time.monotonic() + 240
    while not job.done:
        assert time.monotonic() < deadline, "the sweep did not end in time"
        time.sleep(0.5)
        at.run()
    at.run()
    helpers.ok(at, "sweep on Ray")
    assert job.status == "finished", job.message
    heat = next(f for f in helpers.figures(at) if f["data"][0]["type"] == "heatmap")
    assert heat["data"][0]["y"] == ["T=2", "T=4"]

    at, job = _sweep_page(epochs=40)  # minutes, unless stopped
    deadline = time.monotonic() + 240
    while not (job.latest is not None and job.latest.event is not None and job.latest.event.step >= 2):
        assert time.monotonic() < deadline and not job.done, job.message
        time.sleep(0.3)
        at.run()
    pressed = time.monotonic()
    next(b for b in at.button if b.label == "Stop").click().run()
    job.thread.join(timeout=30)
    assert not job.thread.is_alive(), f"still running {time.monotonic() - pressed:.0f} s after Stop"
    at.run()
    assert job.status == "stopped" and job.result is None
    assert len(ray_backend) == 2
    assert os.environ["LAB_RAY_ADDRESS"] == "local"
