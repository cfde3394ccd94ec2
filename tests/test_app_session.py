"""The app package's session and job rules through AppTest and the job runner directly: the same
browser (cookie) finds its pairs again, also after a server restart (models from their
checkpoints); memory caps drop old models and results and reload them on demand; a tab gone
for less than the grace period keeps its job; a teacher wait is stoppable and holds no slot; a
bad link value is a notice; an error shown as a sentence leaves a traceback in the log."""
from __future__ import annotations

import importlib
import logging
import threading
import time

import pytest
import torch

import helpers

session = importlib.import_module("app_pages._app.session")
jobs = importlib.import_module("app_pages._app.jobs")


@pytest.fixture(autouse=True)
def _history(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_RUNS_DB", str(tmp_path / "runs.sqlite3"))
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path / "data"))


def _as_browser(monkeypatch, token: str) -> None:
    """Every AppTest session from now on carries this browser's `lab_id` cookie."""
    monkeypatch.setattr(session, "_cookie_token", lambda: token)


def _train_pair(at):
    at.switch_page("app_pages/distill.py").run()
    next(b for b in at.button if "Train both" in b.label).click().run()
    return helpers.wait_for_job(at, "distill")


def test_the_same_browser_finds_its_pairs_again_even_after_a_restart(monkeypatch):
    _as_browser(monkeypatch, "ab" * 16)
    first = helpers.app({"epochs": "1", "student": "student-mlp"})
    job = _train_pair(first)
    assert job.status == "finished", job.message
    again = helpers.app({"epochs": "1"})  # a reload: a new Streamlit session, the same cookie
    assert again.session_state["session_key"] == first.session_state["session_key"]
    assert [j.key for j in again.session_state["jobs"]] == [job.key]
    monkeypatch.setattr(session, "_cookie_token", lambda: None)
    stranger = helpers.app()  # the same link in another browser (no cookie yet): nobody's pairs
    assert stranger.session_state["jobs"] == [] and stranger.session_state["session_key"] != job.owner

    _as_browser(monkeypatch, "ab" * 16)
    session._records.clear()  # a server restart: nothing in memory, everything in the history
    restored = helpers.app({"epochs": "1"})
    pair = restored.session_state["jobs"][-1]
    assert pair.key == job.key and pair.kind == "distill" and pair.status == "finished"
    assert pair.runs["distilled"].metrics["test_accuracy"] == job.runs["distilled"].metrics["test_accuracy"]
    assert pair.runs["hard"].weights is None  # not loaded until a page needs the model...
    sample = torch.rand(3, 1, 28, 28)
    assert torch.allclose(pair.runs["hard"].model(sample), job.runs["hard"].model.cpu()(sample), atol=1e-5)
    restored.switch_page("app_pages/compare.py").run()
    helpers.ok(restored, "Compare after a restart")
    assert list(restored.dataframe[0].value["model"])[-2:] == ["labels (student-mlp)", "distilled (student-mlp)"]


def test_memory_caps_drop_old_models_and_results_and_reload_them(monkeypatch, tmp_path):
    _as_browser(monkeypatch, "cd" * 16)
    monkeypatch.setattr(session, "KEEP_MODELS", 1)
    at = helpers.app({"epochs": "1", "student": "student-mlp"})
    old, new = _train_pair(at), _train_pair(at)
    at.run()  # harvest() applies the caps after every run
    assert old.runs["hard"].weights is None and old.runs["hard"].history[-1:] == old.runs["hard"].history
    assert new.runs["hard"].weights is not None
    assert old.runs["hard"].model is not None  # reloaded from its checkpoint on demand

    rec = session._records[at.session_state["session_key"]]
    monkeypatch.setattr(session, "KEEP_RESULTS", 1)
    for k in range(3):
        session._keep_result(rec, f"key{k}", {"k": k})
    assert list(rec.results) == ["key2"]  # only the newest stays in memory


def test_a_job_keeps_running_through_a_reload_then_stops_when_every_tab_is_gone(monkeypatch):
    active = {"old-tab": False, "new-tab": True}
    monkeypatch.setattr(jobs, "session_active", lambda sid: active.get(sid, False))
    monkeypatch.setattr(importlib.import_module("app_pages._app.job"), "session_active",
                        lambda sid: active.get(sid, False))
    job = jobs.Job(1, "teacher", "test", "mnist-sample")
    job.watch("old-tab")  # its tab reloads: the old session is gone...
    assert not job.should_stop()  # ...but within the grace period the job goes on
    job.watch("new-tab")  # the reloaded page watches it
    job.last_watched -= jobs.GRACE_S + 1
    assert not job.should_stop()  # a live watcher: still running
    active["new-tab"] = False  # and now every tab is closed, for longer than the grace period
    job.last_watched -= jobs.GRACE_S + 1
    assert job.should_stop() and job.status == "abandoned"


def test_a_stop_given_at_submit_reaches_the_work_however_early():
    from lab.serve.jobs import JobQueue
    queue, stop, seen = JobQueue(limit=1), threading.Event(), []
    stop.set()  # pressed before the worker thread even started
    job = queue.submit(lambda s: seen.append(s.is_set()), stop=stop)
    job.wait(10)
    assert seen == [True] and job.stop is stop


def test_waiting_for_another_sessions_teacher_holds_no_slot_and_stops(sample):
    from lab.serve import teacher_cache
    from lab.serve.jobs import shared_queue
    from lab.recipes import TEACHER_CONFIG
    other = teacher_cache.Claim(sample, "student-mlp", TEACHER_CONFIG)
    assert other.try_acquire()  # another session trains this teacher
    try:
        mine = teacher_cache.Claim(sample, "student-mlp", TEACHER_CONFIG)
        job = jobs.Job(2, "teacher", "test", "mnist-sample", runs={"teacher": jobs.Run("teacher", "student-mlp")})
        job.cleanup.append(mine.release)
        jobs.start(job, lambda stop: iter(()), ready=mine.try_acquire)
        time.sleep(1.0)
        assert job.status == "waiting" and job.handle is None  # not in the queue: no slot taken
        assert not any(j[1] == "test" for j in shared_queue().snapshot()["running"])
        job.stop.set()
        deadline = time.monotonic() + 5
        while not job.done:
            assert time.monotonic() < deadline, job.status
            time.sleep(0.1)
        assert job.status == "stopped" and not mine.held
    finally:
        other.release()
    assert teacher_cache.Claim(sample, "student-mlp", TEACHER_CONFIG).try_acquire()  # nothing left locked


def test_a_bad_link_value_is_a_notice_on_the_page():
    at = helpers.app({"T": "nan", "alpha": "1e309", "student": "student-cnn-tiny"})
    helpers.ok(at, "bad link")
    notices = [w.value for w in at.warning if "could not be used" in w.value]
    assert len(notices) == 1 and "nan" in notices[0] and "1e309" in notices[0]
    assert at.session_state["T"] == 4.0 and at.session_state["student"] == "student-cnn-tiny"
    at.run()
    assert not [w for w in at.warning if "could not be used" in w.value]  # said once


def test_an_error_shown_as_a_sentence_leaves_a_traceback_in_the_log(monkeypatch, caplog):
    work = importlib.import_module("lab.serve.tasks")  # where the app's teacher jobs call train_teacher

    def broken(*args, **kwargs):
        raise RuntimeError("a bug deep inside")
        yield

    monkeypatch.setattr(work, "train_teacher", broken)
    at = helpers.app()
    at.switch_page("app_pages/teacher.py").run()
    with caplog.at_level(logging.WARNING, logger="app_pages"):
        next(b for b in at.button if "Train teacher" in b.label).click().run()
        helpers.wait_for_job(at, "teacher", timeout=30)
    assert any("a bug deep inside" in e.value for e in at.error)  # the page: one sentence
    logged = [r for r in caplog.records if r.exc_info and "a bug deep inside" in str(r.exc_info[1])]
    assert logged and logged[0].name == "app_pages._app.drive"  # the log: the traceback (drive() runs every job)
