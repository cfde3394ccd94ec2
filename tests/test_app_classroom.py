"""The classroom pages through Streamlit's AppTest: History (runs recorded by real training
jobs, filters, delete), Lessons (one click loads a setup), instructor mode, Draw a digit
(canvas/upload, checkpoint upload with hostile files) and the shared job queue's position."""
from __future__ import annotations

import json
import re
import sqlite3
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import helpers

ENTRY = Path(__file__).resolve().parent.parent / "streamlit_app.py"


@pytest.fixture(autouse=True)
def _history(tmp_path, monkeypatch):
    """A fresh run history and data folder per test."""
    monkeypatch.setenv("LAB_RUNS_DB", str(tmp_path / "runs.sqlite3"))
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "runs.sqlite3"


_app = helpers.app


_ok = helpers.ok


def _go(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"app_pages/{page}.py")
    return at.run()


_wait = helpers.wait_for_job


def _texts(at: AppTest, kind: str) -> list[str]:
    return [e.value for e in at.get(kind)]


def _train_tiny_teacher(at: AppTest):
    _go(at, "teacher")
    at.selectbox(key="w_teacher_arch").set_value("student-mlp")
    at.number_input(key="w_teacher_epochs").set_value(1)
    next(b for b in at.button if "Train teacher" in b.label).click().run()
    return _wait(at, "teacher")


@pytest.mark.parametrize("page", ["history", "lessons", "draw"])
def test_new_pages_render_without_exception(page):
    at = _go(_app(), page)
    _ok(at, page)
    assert at.title


def test_a_training_run_appears_in_history_and_can_be_deleted(_history):
    at = _app({"epochs": "1", "student": "student-mlp"})
    job = _train_tiny_teacher(at)
    assert job.status == "finished", job.message
    _go(at, "history")
    _ok(at, "History")
    table = at.dataframe[0].value
    assert list(table["status"]) == ["finished"] and list(table["kind"]) == ["teacher"]
    assert list(table["model"]) == ["student-mlp"] and 0 < table["test accuracy"][0] <= 1
    # The row holds config, curves, final metrics, the saved model and this session's id.
    from lab.serve.runs import RunStore
    run = RunStore(_history).list_runs()[0]
    assert run.session == at.session_state["session_key"] and run.config["epochs"] == 1
    assert run.curves and run.metrics["params"] > 0 and Path(run.checkpoint, "model.safetensors").is_file()
    scatter = helpers.figures(at)[0]
    assert scatter["data"][0]["x"] == [run.metrics["params"]]
    assert [b.label for b in at.get("download_button")][:2] == ["Weights (.safetensors)", "Model card (.json)"]

    # Delete asks first; "Keep it" keeps it, "Yes, delete" deletes it.
    next(b for b in at.button if b.label == "Delete…").click().run()
    assert any("Delete **run" in w.value for w in at.warning)
    next(b for b in at.button if b.label == "Keep it").click().run()
    assert len(RunStore(_history).list_runs()) == 1
    next(b for b in at.button if b.label == "Delete…").click().run()
    next(b for b in at.button if b.label == "Yes, delete").click().run()
    _ok(at, "History after delete")
    assert RunStore(_history).list_runs() == []
    assert any("No runs recorded yet" in i.value for i in at.info)


def _shown(at: AppTest) -> str:
    """Every text element's source on the page (to check what a browser is told)."""
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "info", "warning", "error", "success")
                     for e in at.get(kind))


def test_history_shows_only_this_browsers_runs_unless_the_server_shares_them(_history, monkeypatch):
    """Nothing crosses between students by default: no toggle, no other browser's run, no download of
    it, no server path; LAB_SHARED_HISTORY=1 is the server's explicit choice to share."""
    from lab.serve.runs import RunStore
    store = RunStore(_history)
    other = store.start_run("teacher", {}, dataset="mnist-sample", arch="teacher-cnn", session="someone-else")
    store.finish_run(other, "finished", metrics={"test_accuracy": 0.97, "params": 390_000})
    killed = store.start_run("hard", {}, dataset="fashion-mnist", arch="student-mlp", session="someone-else")
    with sqlite3.connect(_history) as conn:  # its server process is gone (a pid that cannot exist)
        conn.execute("UPDATE runs SET pid = 2147483000, process_marker = NULL WHERE id = ?", (killed,))
    monkeypatch.delenv("LAB_SHARED_HISTORY", raising=False)
    at = _go(_app(), "history")
    _ok(at, "History")
    assert any("No runs recorded yet in this browser" in i.value for i in at.info)  # this browser's only
    assert "history_everyone" not in [t.key for t in at.toggle] and not at.get("download_button")
    assert str(_history) not in _shown(at) and str(_history.parent) not in _shown(at)
    monkeypatch.setenv("LAB_SHARED_HISTORY", "1")  # the server shares its history: everyone's on request
    at.run()
    at.toggle(key="history_everyone").set_value(True).run()
    table = at.dataframe[0].value
    assert sorted(table["status"]) == ["finished", "incomplete"]  # the killed server's run, marked on start
    at.multiselect(key="history_dataset").set_value(["fashion-mnist"]).run()
    assert list(at.dataframe[0].value["run"]) == [killed]
    at.multiselect(key="history_dataset").set_value([]).run()
    at.multiselect(key="history_compare").set_value([other, killed]).run()
    _ok(at, "History compare")
    assert len(at.dataframe[1].value) == 2
    assert "Delete…" not in [b.label for b in at.button]  # other sessions' runs are not yours to delete
    assert str(_history) not in _shown(at) and str(_history.parent) not in _shown(at)  # no server path


def test_compare_picks_recorded_runs_this_sessions_by_default(_history, monkeypatch):
    from lab.serve.runs import RunStore
    monkeypatch.delenv("LAB_SHARED_HISTORY", raising=False)
    store = RunStore(_history)
    other = store.start_run("teacher", {}, dataset="mnist-sample", arch="teacher-cnn", session="someone-else")
    store.finish_run(other, "finished", metrics={"test_accuracy": 0.97, "params": 390_000})
    at = _go(_app(), "compare")
    _ok(at, "Compare without runs")
    assert any("No students yet" in i.value for i in at.info)  # no pair: the recorded runs are still offered
    assert "compare_runs" not in [w.key for w in at.multiselect]  # someone else's run is not offered by default
    assert any("No runs recorded in this browser yet" in c.value for c in at.caption)
    mine = store.start_run("distilled", {}, dataset="mnist-sample", arch="student-mlp",
                           session=at.session_state["session_key"])
    store.finish_run(mine, "finished", metrics={"test_accuracy": 0.91, "params": 100_000},
                     curves=[{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}])
    at.run()
    picker = at.multiselect(key="compare_runs")
    assert [int(o.split()[1]) for o in picker.options] == [mine]  # this session's runs by default
    assert "compare_everyone" not in [t.key for t in at.toggle]  # and only those: nothing crosses
    monkeypatch.setenv("LAB_SHARED_HISTORY", "1")
    at.run()
    at.toggle(key="compare_everyone").set_value(True).run()  # others' on request, where the server shares
    assert sorted(int(o.split()[1]) for o in at.multiselect(key="compare_runs").options) == sorted([mine, other])
    at.multiselect(key="compare_runs").set_value([mine, other]).run()
    _ok(at, "Compare recorded runs")
    table = at.dataframe[0].value
    assert sorted(table["test_accuracy"]) == [0.91, 0.97] and len(table) == 2
    curves = helpers.figures(at)[0]
    assert any(t["name"].startswith(f"run {mine}") for t in curves["data"])


def test_a_lesson_click_loads_its_setup_and_the_url():
    at = _go(_app(), "lessons")
    _ok(at, "Lessons")
    from lab.lessons.presets import LESSONS
    lesson = LESSONS["small-student"].settings  # T, alpha and epochs differ from the defaults
    assert (at.session_state["T"], at.session_state["alpha"]) != (lesson["temperature"], lesson["alpha"])
    at.button(key="load_small-student").click().run()
    _ok(at, "Lesson loaded")
    assert at.session_state["lesson"] == "small-student" and at.session_state["student"] == lesson["student"]
    assert at.session_state["T"] == lesson["temperature"] and at.session_state["alpha"] == lesson["alpha"]
    assert at.session_state["epochs"] == lesson["epochs"]
    assert at.query_params["lesson"] in ("small-student", ["small-student"])
    assert at.query_params["T"] in (f"{lesson['temperature']:g}", [f"{lesson['temperature']:g}"])
    assert any("Predict before you run" in m.value for m in at.markdown)
    assert any("?lesson=small-student" in c.value or "lesson=small-student" in c.value for c in at.code)
    at.radio[0].set_value("1 to 3 points").run()
    assert any("Your prediction: **1 to 3 points**" in s.value for s in at.success)
    _go(at, "distill")  # the Distill page shows the lesson's setup and the prediction
    _ok(at, "Distill in a lesson")
    assert at.selectbox(key="w_student").value == lesson["student"]
    assert at.slider(key="w_T").value == lesson["temperature"]
    assert any("1 to 3 points" in i.value for i in at.info)


def test_a_lesson_link_opens_the_lesson():
    at = _app({"lesson": "unseen-class"})
    _ok(at, "lesson link")
    assert at.session_state["lesson"] == "unseen-class"
    assert at.session_state["T"] == 8.0 and at.session_state["alpha"] == 1.0


def test_lesson_3_opens_the_omitted_class_experiment():
    at = _go(_app(), "lessons")
    at.button(key="load_unseen-class").click().run()
    _ok(at, "Lesson 3 loaded")
    infos = _texts(at, "info")
    assert any("**Experiments** page" in i and "Omitted class" in i for i in infos), infos
    assert not any("not hidden from the students" in w for w in _texts(at, "warning"))
    at.radio[0].set_value("over 50%").run()
    assert any("Experiments" in str(link.proto.label) for link in at.get("page_link"))
    _go(at, "experiments")
    _ok(at, "Experiments in lesson 3")
    assert at.session_state["x_experiment"] == "omit"
    assert at.get("segmented_control")[0].value == "omit"  # the omitted-class experiment is selected
    assert at.subheader[0].value == "Omitted class"
    assert at.selectbox(key="w_x_omit_class").value == 3
    assert at.number_input(key="w_x_omit_T").value == 8.0
    assert at.selectbox(key="w_x_omit_student").value == "student-mlp-2x800"  # Hinton's net, the lesson's student
    assert at.number_input(key="w_x_omit_epochs").value == 30
    assert any("Lesson 3" in i.value and "over 50%" in i.value for i in at.info)  # the lesson's question

    linked = _go(_app({"lesson": "unseen-class"}), "experiments")  # a shared lesson link does the same
    assert linked.get("segmented_control")[0].value == "omit"


def test_lesson_4_says_what_to_click_for_its_teacher():
    at = _go(_app(), "lessons")
    at.button(key="load_no-help").click().run()
    _ok(at, "Lesson 4 loaded")
    steps = [w for w in _texts(at, "warning") if "First train this lesson's teacher" in w]
    assert steps and "press **Train teacher**" in steps[0] and "1 epoch**" in steps[0]
    assert "Train both students" in steps[0]
    _go(at, "teacher")
    assert at.number_input(key="w_teacher_epochs").value == 1  # the Teacher form is filled in
    assert at.selectbox(key="w_teacher_arch").value == "teacher-cnn"
    _go(at, "distill")
    assert any("First train this lesson's teacher" in w for w in _texts(at, "warning"))


def test_instructor_mode_hides_the_advanced_controls():
    at = _go(_app(), "teacher")
    assert at.number_input(key="w_teacher_lr") is not None
    at.toggle(key="w_instructor").set_value(True).run()
    _ok(at, "Teacher, instructor mode")
    assert "w_teacher_lr" not in [w.key for w in at.number_input]
    assert "w_device" not in [w.key for w in at.selectbox]
    _go(at, "distill")
    assert "w_seed" not in [w.key for w in at.number_input]
    assert at.query_params["instructor"] in ("1", ["1"])


def _png(array) -> bytes:
    import io

    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


PICKLE = b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s."
RANDOM = bytes(range(256)) * 40


def test_an_uploaded_digit_gets_predictions_and_bad_images_a_message(sample):
    at = _go(_app(), "draw")
    digit = sample.test_images[0, 0].numpy()  # a real test digit, as a photo would be: dark on light
    label = sample.classes[int(sample.test_labels[0])]
    at.file_uploader(key="digit_upload").set_value(("digit.png", _png(255 - digit), "image/png")).run()
    _ok(at, "Draw with an upload")
    assert not at.error
    assert at.metric[0].value == label  # the pretrained teacher reads the digit
    bars = helpers.figures(at)[0]
    assert bars["layout"]["title"]["text"] == "soft targets at T = 4"
    assert any("No students yet" in i.value for i in at.info)
    for name, data, needle in (("model.pkl", PICKLE, "not an image"), ("noise.png", RANDOM, "not an image"),
                               ("huge.png", b"\x89PNG" + bytes(6 * 2**20), "the limit is 5 MB")):
        at.file_uploader(key="digit_upload").set_value((name, data, "application/octet-stream")).run()
        _ok(at, name)
        assert any(needle in e.value for e in at.error), (name, _texts(at, "error"))


def _checkpoint(arch="student-mlp", shape=(1, 28, 28), card_arch=None, classes=10, dataset="mnist-sample"):
    from lab import checkpoints
    from lab.models import build, to_safetensors
    model = build(arch, shape, classes)
    card = {"card_version": 1, "arch": card_arch or arch, "dataset": dataset, "input_shape": list(shape),
            "classes": [str(k) for k in range(classes)], "mean": [0.1] * shape[0], "std": [0.3] * shape[0],
            "metrics": {}}
    assert checkpoints.validate_card(card)
    return to_safetensors(model), json.dumps(card).encode()


@pytest.mark.parametrize("case,needle", [
    ("pickle", "Python pickle"), ("random", "not a safetensors file"), ("architecture", "does not fit architecture"),
    ("input shape", "takes [3, 32, 32] images"), ("huge", "the limit is"), ("card", "not valid JSON"),
    ("dataset", "trained on 'fashion-mnist'")])
def test_a_bad_checkpoint_upload_gets_a_clear_message(case, needle):
    weights, card = _checkpoint()
    if case == "pickle":
        weights = PICKLE
    elif case == "random":
        weights = RANDOM
    elif case == "architecture":
        weights, card = _checkpoint(card_arch="student-cnn-tiny")
    elif case == "input shape":
        weights, card = _checkpoint(shape=(3, 32, 32))
    elif case == "huge":
        weights = bytes(65 * 2**20)
    elif case == "card":
        card = RANDOM
    elif case == "dataset":
        weights, card = _checkpoint(dataset="fashion-mnist")
    at = _go(_app(), "draw")
    at.file_uploader(key="ckpt_weights").set_value(("model.safetensors", weights, "application/octet-stream"))
    at.file_uploader(key="ckpt_card").set_value(("model.json", card, "application/json")).run()
    _ok(at, case)
    # as the reader sees them: the card's fields are Markdown-escaped on the page (`\[` renders as `[`)
    errors = [re.sub(r"\\(.)", r"\1", e) for e in _texts(at, "error")]
    assert any("cannot be used" in e and needle in e for e in errors), errors
    assert "Traceback" not in " ".join(errors)


def test_an_uploaded_checkpoint_is_evaluated_and_becomes_the_teacher():
    weights, card = _checkpoint()
    at = _go(_app(), "draw")
    at.file_uploader(key="ckpt_weights").set_value(("model.safetensors", weights, "application/octet-stream"))
    at.file_uploader(key="ckpt_card").set_value(("model.json", card, "application/json")).run()
    _ok(at, "upload")
    assert any("loaded and checked" in s.value for s in at.success)
    assert any(m.label.startswith("Test accuracy") for m in at.metric)
    at.button(key="ckpt_use").click().run()
    _ok(at, "use as teacher")
    assert at.session_state["teacher_choice"].startswith("upload-")
    _go(at, "teacher")
    _ok(at, "Teacher with an uploaded teacher")
    assert any("uploaded student-mlp" in str(r.options) for r in at.radio)


def test_a_job_waits_in_the_shared_queue_with_its_position_and_can_be_cancelled(_history):
    from lab.serve.jobs import shared_queue
    from lab.serve.runs import RunStore
    queue = shared_queue()
    release = threading.Event()
    blockers = [queue.submit(lambda stop: release.wait(60), label="someone else's run", owner=f"other-{i}")
                for i in range(queue.limit)]  # every training slot of this server is taken
    try:
        at = _app({"epochs": "1"})
        _go(at, "teacher")
        at.selectbox(key="w_teacher_arch").set_value("student-mlp")
        at.number_input(key="w_teacher_epochs").set_value(1)
        next(b for b in at.button if "Train teacher" in b.label).click().run()
        _ok(at, "queued")
        job = at.session_state["jobs"][-1]
        assert job.status == "queued" and job.position == 1
        assert any("Queued — position 1 of 1" in i.value for i in at.info)  # on the page
        assert any("Queued — position 1 of 1" in c.value for c in at.sidebar.caption)  # and in the sidebar
        at.button(key=f"cancel-{job.key}").click().run()
        _ok(at, "cancelled")
        assert job.status == "cancelled" and job.done and queue.snapshot()["waiting"] == []
        assert any("Cancelled" in i.value for i in at.info)
        assert RunStore(_history).list_runs() == []  # it never ran: nothing recorded

        # Queued again, then a slot frees: it starts by itself and is recorded.
        next(b for b in at.button if "Train teacher" in b.label).click().run()
        job = at.session_state["jobs"][-1]
        assert job.status == "queued"
        release.set()
        job = _wait(at, "teacher")
        assert job.status == "finished", job.message
        assert [r.status for r in RunStore(_history).list_runs()] == ["finished"]
    finally:
        release.set()
        for blocker in blockers:
            blocker.wait(10)


def _count_teacher_training(monkeypatch) -> list:
    """Every call of the app's train_teacher (the real one still runs)."""
    import importlib
    glue = importlib.import_module("lab.serve.tasks")  # where the app's teacher jobs call train_teacher
    calls, real = [], glue.train_teacher

    def counting(*args, **kwargs):
        calls.append(args[1] if len(args) > 1 else kwargs.get("arch"))
        yield from real(*args, **kwargs)

    monkeypatch.setattr(glue, "train_teacher", counting)
    return calls


def test_the_same_teacher_is_trained_once_per_server(monkeypatch, tmp_path, _history):
    from lab.serve.runs import RunStore
    calls = _count_teacher_training(monkeypatch)
    first = _app()
    trained = _train_tiny_teacher(first)
    assert trained.status == "finished" and trained.cached_s is None and calls == ["student-mlp"]
    entries = list((tmp_path / "data" / "teachers").glob("mnist-sample-student-mlp-*/model.safetensors"))
    assert len(entries) == 1  # stored in the cache under LAB_DATA_DIR

    second = _app()  # another student, another session: same dataset, architecture and settings
    assert second.session_state["session_key"] != first.session_state["session_key"]
    reused = _train_tiny_teacher(second)
    _ok(second, "cached teacher")
    assert calls == ["student-mlp"]  # not trained again
    assert reused.status == "finished" and reused.cached_s is not None and reused.cached_s < 5
    assert reused.runs["teacher"].metrics["test_accuracy"] == trained.runs["teacher"].metrics["test_accuracy"]
    assert any("already trained on this server" in s.value and "loaded in" in s.value for s in second.success)
    assert second.session_state["teacher_choice"] == reused.key  # it is the teacher in use
    assert torch_equal(reused.runs["teacher"].test_logits, trained.runs["teacher"].test_logits)
    runs = {r.session: r for r in RunStore(_history).list_runs()}
    mine = runs[second.session_state["session_key"]]
    assert mine.status == "finished" and "teacher cache" in (mine.message or "")
    assert mine.metrics["test_accuracy"] == trained.runs["teacher"].metrics["test_accuracy"]

    # A different configuration is trained.
    _go(second, "teacher")
    second.number_input(key="w_teacher_epochs").set_value(2)
    next(b for b in second.button if "Train teacher" in b.label).click().run()
    assert _wait(second, "teacher").cached_s is None and len(calls) == 2


def test_two_sessions_asking_at_once_train_the_teacher_once(monkeypatch):
    calls = _count_teacher_training(monkeypatch)
    sessions = [_go(_app(), "teacher"), _go(_app(), "teacher")]
    for at in sessions:  # both press Train before either has finished
        at.selectbox(key="w_teacher_arch").set_value("student-mlp")
        at.number_input(key="w_teacher_epochs").set_value(1)
        next(b for b in at.button if "Train teacher" in b.label).click().run()
    jobs = [_wait(at, "teacher") for at in sessions]
    assert [j.status for j in jobs] == ["finished", "finished"], [j.message for j in jobs]
    assert calls == ["student-mlp"]
    assert sorted(j.cached_s is None for j in jobs) == [False, True]  # one trained, one loaded it
    a, b = (j.runs["teacher"].metrics["test_accuracy"] for j in jobs)
    assert a == b
    waited = sessions[[j.cached_s is not None for j in jobs].index(True)]
    assert any("already trained on this server" in s.value for s in waited.success)


def torch_equal(a, b) -> bool:
    import torch
    return a is not None and b is not None and torch.equal(a, b)
