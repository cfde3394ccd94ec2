"""Bounded memory, counted in objects (not RSS): what a browser's record still reaches after N
pairs is the cap's worth of models, whatever N is; once every tab has been gone for the grace
period it reaches no model and no tensor at all, and the models come back from their checkpoints.

The count walks the object graph from the browser's SessionRecord (its jobs, their runs, events,
queue handles and the closures those hold), the way the garbage collector would, without going
through modules or functions' globals. Two leaks this found: the queue's handle kept each job's
work closure (a pair's copy of the teacher), and a run's last event kept its trained model after
the caps had "unloaded" it."""
from __future__ import annotations

import gc
import importlib
import types

import pytest
import torch

import helpers

session = importlib.import_module("app_pages._app.session")
caps = importlib.import_module("app_pages._app.caps")
job_module = importlib.import_module("app_pages._app.job")
jobs = importlib.import_module("app_pages._app.jobs")


@pytest.fixture(autouse=True)
def _history(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_RUNS_DB", str(tmp_path / "runs.sqlite3"))
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path / "data"))


def reachable(root) -> tuple[list, list]:
    """(nn.Modules, tensors outside modules) reachable from `root`; a model counts once (its
    parameters are not counted again), the shared dataset is not counted (every session uses it)."""
    import lab
    seen, modules, tensors, todo = set(), [], [], [root]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, (type, types.ModuleType, lab.Dataset)):
            continue
        seen.add(id(obj))
        if isinstance(obj, torch.nn.Module):
            modules.append(obj)
            continue
        if isinstance(obj, torch.Tensor):
            tensors.append(obj)
            continue
        if isinstance(obj, types.FunctionType):  # what a closure holds, not the module it was defined in
            todo.extend(c.cell_contents for c in obj.__closure__ or () if _filled(c))
            todo.extend(obj.__defaults__ or ())
            continue
        todo.extend(gc.get_referents(obj))
    return modules, tensors


def _filled(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def _train_pairs(at, n: int) -> list:
    at.switch_page("app_pages/distill.py").run()
    done = []
    for _ in range(n):
        next(b for b in at.button if "Train both" in b.label).click().run()
        job = helpers.wait_for_job(at, "distill")
        job.thread.join(30)  # closed: its history rows and checkpoints are written
        assert job.status == "finished", job.message
        done.append(job)
    at.run()  # harvest() applies the caps after every run
    return done


def test_a_browser_keeps_the_caps_worth_of_models_however_many_pairs_then_none_once_gone(monkeypatch):
    monkeypatch.setattr(session, "_cookie_token", lambda: "ef" * 16)
    monkeypatch.setattr(session, "KEEP_MODELS", 1)
    at = helpers.app({"epochs": "1", "student": "student-mlp"})
    pairs = _train_pairs(at, 3)
    rec = session._records[at.session_state["session_key"]]
    modules, tensors = reachable(rec)
    newest = {id(pairs[-1].runs[r].weights) for r in ("hard", "distilled")}
    # the newest pair's two students (and its two test-logit tensors, 2 x 1,000 x 10): nothing else,
    # no teacher copy, no model of an older pair
    assert {id(m) for m in modules} == newest, [type(m).__name__ for m in modules]
    assert sum(t.numel() for t in tensors) <= 2 * pairs[-1].runs["hard"].test_logits.numel()
    assert all(p.runs["hard"].weights is None and p.runs["hard"].last.result.model is None for p in pairs[:-1])

    # every tab of this browser has been gone for longer than the grace period: it keeps nothing
    monkeypatch.setattr(jobs, "session_active", lambda sid: False)
    rec.tabs = {"a-closed-tab"}
    rec.seen -= jobs.GRACE_S + 1
    assert caps.release_idle({rec.key: rec}, session._records_lock) == 1
    assert reachable(rec) == ([], [])
    assert caps.release_idle({rec.key: rec}, session._records_lock) == 0  # once
    sample = torch.rand(2, 1, 28, 28)
    reloaded = pairs[0].runs["distilled"].model  # from its checkpoint, when a page asks
    assert reloaded is not None and reloaded(sample).shape == (2, 10)


def test_a_released_experiment_keeps_no_result_in_its_events():
    from lab.experiments.common import Progress
    from lab.train import Event, TrainResult
    model = torch.nn.Linear(2, 2)
    inner = Event("finished", 1, 10, 10, result=TrainResult(model, "finished", {"test_accuracy": 0.5}, [{"s": 1}]))
    final = Progress("sweep", "T=4", 0, 1, event=inner, status="finished", result={"logits": torch.zeros(100, 10)})
    job = jobs.Job(1, "experiment", "sweep", "mnist-sample", runs={"sweep": jobs.Run("sweep", None)}, name="sweep")
    job.apply("sweep", final)
    job.status, job.closed = "finished", True
    assert reachable(job)[0] == [model]
    job.release()
    assert reachable(job) == ([], []) and job.result is None
    assert job.fraction() == 1.0 and job.latest.status == "finished"  # what the finished panel reads


def test_a_job_cancelled_in_the_queue_forgets_its_work():
    teacher_copy = torch.nn.Linear(4, 4)
    job = jobs.Job(2, "distill", "test", "mnist-sample", runs={"hard": jobs.Run("hard", "student-mlp")})
    once = jobs.Once.for_job(job, lambda stop: iter([teacher_copy]))
    assert teacher_copy in reachable(job)[0]
    jobs.close(job)  # what cancelling a queued job ends with: the queue still holds `once`
    assert once.work is None and reachable(once) == ([], [])
