"""The Experiments page through AppTest: every experiment renders; a tiny sweep runs in the
background and its heatmap shows the grid; revisiting is instant; the omitted-class bias
slider re-scores without a new job; Stop stops; the convention translator converts; errors
are messages. Tiny settings (student-mlp, 1 epoch) keep the file well under a minute."""
from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

import helpers

ENTRY = helpers.ENTRY
PAGE = "app_pages/experiments.py"
SECTIONS = ["sweep", "omit", "size", "methods", "calibration", "conventions", "ensemble"]


def _page(experiment: str = "sweep") -> AppTest:
    at = helpers.app()
    at.switch_page(PAGE)
    at.session_state["x_experiment"] = experiment
    return at.run()


_ok = helpers.ok


_figures = helpers.figures


def _run(at: AppTest):
    next(b for b in at.button if b.label.startswith("Run")).click().run()
    return _experiment_jobs(at)[-1]


def _experiment_jobs(at: AppTest) -> list:
    return [j for j in at.session_state["jobs"] if j.kind == "experiment"]


def _wait(at: AppTest, job, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while not job.done:
        assert time.monotonic() < deadline, "the experiment did not end in time"
        time.sleep(0.3)
        at.run()
    at.run()
    return job


def test_every_experiment_renders_without_exception():
    at = _page()
    _ok(at, "Experiments")
    assert at.title[0].value == "Experiments"
    for name in SECTIONS:
        at.session_state["x_experiment"] = name
        at.run()
        _ok(at, name)
        assert not at.error, (name, [e.value for e in at.error])
    at.session_state["x_experiment"] = "methods"
    at.run()
    methods = "\n".join(m.value for m in at.markdown)
    for target in ("FitNets", "attention", "pseudo", "T²"):  # each target explained, with its formula
        assert target in methods


def _labels_only_accuracy(epochs: int, seed: int) -> float:
    from lab.data import load
    from lab.experiments import common
    from lab.losses import HardLabels
    from lab.metrics import accuracy
    from lab.train import run_to_end, train
    dataset = load("mnist-sample")
    student = common.fresh_student("student-mlp", dataset, seed)
    run_to_end(train(student, dataset, HardLabels(), common.student_config(epochs, seed, "cpu")))
    return accuracy(common.test_logits(student, dataset), dataset.test_labels.cpu())


def test_tiny_sweep_runs_and_its_heatmap_shows_the_grid():
    at = _page("sweep")
    at.selectbox(key="w_x_sweep_student").set_value("student-mlp")
    at.multiselect(key="w_x_sweep_T").set_value([2.0, 4.0])
    at.multiselect(key="w_x_sweep_alpha").set_value([0.0, 0.9])
    at.number_input(key="w_x_sweep_seeds").set_value(1)
    at.number_input(key="w_x_sweep_epochs").set_value(1).run()
    job = _run(at)
    seen_progress = False
    deadline = time.monotonic() + 90
    while not job.done:
        assert time.monotonic() < deadline
        time.sleep(0.3)
        at.run()
        seen_progress |= any("Run " in (p.proto.text or "") for p in at.get("progress"))
    at.run()
    _ok(at, "sweep")
    assert job.status == "finished", job.message
    heat = next(f for f in _figures(at) if f["data"][0]["type"] == "heatmap")
    assert heat["data"][0]["x"] == ["α=0", "α=0.9"] and heat["data"][0]["y"] == ["T=2", "T=4"]
    z = heat["data"][0]["z"]
    assert len(z) == 2 and all(len(row) == 2 and all(0 <= v <= 1 for v in row) for row in z)
    # the α = 0 column is the labels-only student, the one trained on its own with seed 0 and the
    # sweep's schedule (a stacked member is its separate run, bit for bit: tests/test_stacking.py)
    assert z[0][0] == z[1][0] == _labels_only_accuracy(epochs=1, seed=0)
    best = job.result["best"]  # chosen on half of the test images, scored on the other half
    # baseline column outlined; the chosen cell boxed, unless labels only was chosen
    assert len(heat["layout"]["shapes"]) == (1 if best["labels_only"] else 2)
    assert "labels only" in heat["layout"]["annotations"][0]["text"]
    chosen = next(m for m in at.metric if m.label.startswith("Chosen cell"))
    assert chosen.value == f"{best['report_accuracy']:.2%}" and not any("Best cell" in m.label for m in at.metric)
    # History records what was measured: the chosen cell on the images it was not chosen on
    assert job.store.get_run(job.record_id).metrics["test_accuracy"] == best["report_accuracy"]
    assert seen_progress or job.latest.total_runs == 1  # student-mlp: baseline + 2 cells train as one stacked run

    # Leave and come back: the result is there at once, no new job.
    at.switch_page("app_pages/concepts.py").run()
    at.switch_page(PAGE).run()
    _ok(at, "sweep revisited")
    assert len(_experiment_jobs(at)) == 1
    assert any(f["data"][0]["type"] == "heatmap" for f in _figures(at))
    assert at.multiselect(key="w_x_sweep_T").value == [2.0, 4.0]  # the settings survived the page switch


def test_omitted_class_bias_slider_rescores_without_a_new_job():
    at = _page("omit")
    at.selectbox(key="w_x_omit_student").set_value("student-mlp")
    at.number_input(key="w_x_omit_epochs").set_value(1).run()
    job = _wait(at, _run(at))
    _ok(at, "omit")
    assert job.status == "finished", job.message
    k = job.result["class"]

    def bars():
        return next(f for f in _figures(at) if f["layout"].get("title", {}).get("text") == "Per-class test accuracy")

    def matrix():
        return next(f for f in _figures(at) if f["data"][0]["type"] == "heatmap")

    at.slider(key="w_x_omit_bias").set_value(0.0).run()
    before = bars()["data"][1]["y"]
    assert before[k] == job.result["per_class_accuracy_before"][k]
    at.slider(key="w_x_omit_bias").set_value(15.0).run()
    after = bars()["data"][1]["y"]
    assert after[k] > before[k]                       # a big bias makes the class predicted
    assert "bias +15.00" in bars()["data"][1]["name"]
    cm = matrix()["data"][0]["z"]
    assert sum(map(sum, cm)) == len(job.result["test_labels"])
    assert len(_experiment_jobs(at)) == 1  # nothing retrained
    assert bars()["data"][2]["y"][k] == job.result["hard_label_class_accuracy"]  # the labels-only contrast
    # like for like: the labels-only student with its own automatic bias, chosen the same way
    assert bars()["data"][3]["y"][k] == job.result["hard_label_class_accuracy_after"]
    assert f"{job.result['hard_label_bias']:+.2f}" in bars()["data"][3]["name"]
    assert any("Like for like" in c.value for c in at.caption)

    next(b for b in at.button if b.label.startswith("Automatic correction")).click().run()
    assert at.slider(key="w_x_omit_bias").value == pytest.approx(round(job.result["bias"] * 20) / 20)
    _ok(at, "omit corrected")

    # The experiment is in the run history, like a training run: kind, status, config, result summary.
    run = job.store.get_run(job.record_id)
    assert (run.kind, run.status, run.arch, run.dataset) == ("omit", "finished", "student-mlp", "mnist-sample")
    assert run.session == at.session_state["session_key"]
    assert run.config["experiment"] == "omit" and run.config["settings"]["epochs"] == 1
    assert run.config["settings"]["omitted_class"] == k
    assert run.metrics["per_class_accuracy_before"] == job.result["per_class_accuracy_before"]
    assert run.metrics["hard_label_class_accuracy"] == job.result["hard_label_class_accuracy"]
    assert run.metrics["test_accuracy"] == job.result["accuracy_after"]
    assert "test_logits" not in run.metrics and "confusion_matrix_before" not in run.metrics  # no bulk
    at.switch_page("app_pages/history.py").run()
    _ok(at, "History with an experiment")
    table = at.dataframe[0].value
    row = table[table["run"] == run.id]
    assert list(row["kind"]) == ["omit"] and list(row["status"]) == ["finished"]
    assert list(row["test accuracy"]) == [job.result["accuracy_after"]]


def test_stop_ends_an_experiment():
    at = _page("sweep")
    at.selectbox(key="w_x_sweep_student").set_value("student-mlp")
    at.number_input(key="w_x_sweep_epochs").set_value(40).run()  # the full grid: minutes, unless stopped
    job = _run(at)
    deadline = time.monotonic() + 60
    while not (job.latest is not None and job.latest.event is not None and job.latest.event.step >= 2):
        assert time.monotonic() < deadline and not job.done, job.message
        time.sleep(0.3)
        at.run()
    pressed = time.monotonic()
    next(b for b in at.button if b.label == "Stop").click().run()
    job.thread.join(timeout=10)
    assert not job.thread.is_alive() and time.monotonic() - pressed < 10
    at.run()
    assert job.status == "stopped" and job.result is None
    assert any("Stopped" in w.value for w in at.warning)
    run = job.store.get_run(job.record_id)  # recorded: running, then stopped (no result)
    assert (run.kind, run.status) == ("sweep", "stopped") and "test_accuracy" not in run.metrics
    assert next(b for b in at.button if b.label.startswith("Run")).disabled is False  # ready to run again
    _ok(at, "after Stop")


def test_convention_translator_converts_and_explains_errors():
    at = _page("conventions")
    at.selectbox(key="w_x_conv_from").set_value("keras")
    at.selectbox(key="w_x_conv_to").set_value("hinton")
    at.number_input(key="w_x_conv_T").set_value(4.0)
    at.number_input(key="w_x_conv_alpha").set_value(0.1).run()
    _ok(at, "conventions")
    text = "\n".join(m.value for m in at.markdown)
    assert "T = 4, alpha = 0.9" in text  # Keras puts α on the labels: 0.1 there is 0.9 here

    at.selectbox(key="w_x_conv_to").set_value("pytorch-tutorial").run()
    text = "\n".join(m.value for m in at.markdown)
    assert "soft_target_loss_weight = 0.9, ce_loss_weight = 0.1" in text

    at.selectbox(key="w_x_conv_from").set_value("pytorch-tutorial").run()
    at.number_input(key="w_x_conv_soft_target_loss_weight").set_value(0.0)
    at.number_input(key="w_x_conv_ce_loss_weight").set_value(0.0).run()
    _ok(at, "both weights 0")
    assert any("Both loss weights are 0" in e.value for e in at.error)

    # "What breaks": the gradient-norm chart, instant, one line per loss variant.
    chart = next(f for f in _figures(at) if f["layout"]["title"]["text"].startswith("What breaks"))
    lines = {t["name"]: t["y"] for t in chart["data"]}
    assert len(lines) == 3
    correct, no_t2 = lines["T²·KL, batchmean (correct)"], lines["no T² factor"]
    assert no_t2[-1] < correct[-1] / 100  # at T = 32 the signal without T² has all but vanished


def test_an_experiment_that_cannot_run_is_a_message():
    at = _page("methods")
    at.selectbox(key="w_x_methods_student").set_value("student-mlp")
    at.multiselect(key="w_x_methods_methods").set_value(["attention"])
    at.number_input(key="w_x_methods_epochs").set_value(1).run()
    job = _wait(at, _run(at), timeout=60)
    _ok(at, "attention on an MLP")
    assert job.status == "error"
    assert any(job.message in e.value for e in at.error) and "Traceback" not in job.message
    assert job.store.get_run(job.record_id).status == "failed"


def test_ensemble_of_new_members_then_one_student():
    at = _page("ensemble")
    at.number_input(key="w_x_ens_new").set_value(2)
    at.selectbox(key="w_x_ens_arch").set_value("student-mlp")
    at.number_input(key="w_x_ens_member_epochs").set_value(1)
    at.selectbox(key="w_x_ens_student").set_value("student-mlp")
    at.number_input(key="w_x_ens_epochs").set_value(1).run()
    job = _wait(at, _run(at))
    _ok(at, "ensemble")
    assert job.status == "finished", job.message
    assert job.latest.result["member_names"] == ["student-mlp seed=1", "student-mlp seed=2"]
    bars = next(f for f in _figures(at) if f["layout"]["title"]["text"] == "Many teachers → one student")
    assert list(bars["data"][0]["x"]) == ["student-mlp seed=1", "student-mlp seed=2", "ensemble", "student: labels",
                                          "student: best member", "student: ensemble"]


def test_closing_the_tab_ends_an_experiment(monkeypatch, sample):

    from app_pages._app import jobs
    from lab.experiments import sweep

    helpers.close_every_tab(monkeypatch)
    import torch
    teacher = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    job = jobs.Job(999, "experiment", "test", "mnist-sample", name="sweep", result_key="k",
                   runs={"sweep": jobs.Run("sweep", "student-mlp")})
    job.watch("closed-tab")
    job.last_watched -= jobs.GRACE_S + 1  # its tab closed longer ago than the grace period
    jobs.drive(job, lambda stop: (("sweep", p) for p in sweep.run(sample, teacher, sweep.SweepConfig(epochs=20),
                                                                  stop)))
    assert job.status == "abandoned" and job.result is None
    assert job.latest is None  # the tab was gone before it started: not one training step


def test_a_dataset_that_cannot_load_is_a_message():
    at = AppTest.from_file(str(ENTRY), default_timeout=120)
    at.query_params["dataset"] = "cifar10"  # LAB_OFFLINE: no files, no download
    at.run()
    at.switch_page(PAGE).run()
    _ok(at, "Experiments on cifar10")
    assert any("cifar10 is not available" in e.value for e in at.error)
