"""lab.lessons.check and `python -m lab lessons --check`: every lesson's claim is data, the check
trains the lesson as the app does and fails when a claim does not hold."""
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from lab.lessons import check as lesson_check
from lab.cli import main
from lab.lessons.dataset_defaults import DATASET_DEFAULTS, defaults_for
from lab.lessons.check import MEASURES, POOLED, check, lesson_subject, subjects
from lab.lessons.presets import LESSONS, Claim


def test_every_lesson_and_dataset_default_states_measurable_claims():
    for lesson in LESSONS.values():
        assert lesson.claims, f"{lesson.key} promises nothing checkable"
        for claim in lesson.claims:
            assert claim.measure in MEASURES and claim.text
            assert not claim.pooled or claim.measure in POOLED
    for d in DATASET_DEFAULTS.values():
        assert d.measured and d.claims and d.why.endswith(".")
    assert not defaults_for("mnist").measured and "not been measured" in defaults_for("mnist").why
    names = [s.name for s in subjects()]
    assert names[:len(LESSONS)] == list(LESSONS) and "defaults:fashion-mnist" in names


def test_the_lesson_2_text_states_its_size_ratio():
    import re
    from lab.models import MODELS
    s = LESSONS["small-student"].settings
    # parameters counted by hand from the architectures (lab.models): the MLP's two linear layers; the
    # teacher's conv weights (no bias) + BatchNorm's 2 per channel, its 3x3-grid 256-unit dense layer, its head
    mlp = (28 * 28 * 48 + 48) + (48 * 10 + 10)
    teacher = ((1 * 32 * 9 + 64) + (32 * 64 * 9 + 128) + (64 * 128 * 9 + 256)
               + (128 * 9 * 256 + 256) + (256 * 10 + 10))
    assert s["student"] == "student-mlp" and s["teacher"] == "teacher-cnn" and "48 hidden" in MODELS[s["student"]][1]
    lesson = LESSONS["small-student"]
    stated = int(re.search(r"(\d+)× smaller", lesson.title).group(1))
    assert abs(stated - teacher / mlp) / (teacher / mlp) < 0.05  # 10 for 10.2
    assert f"{stated} times fewer" in lesson.text
    assert f"{round(mlp / 1000)} thousand" in lesson.text and f"{round(teacher / 1000)} thousand" in lesson.text
    assert f"alpha = {s['alpha']:g}" in lesson.text and f"T = {s['temperature']:g}" in lesson.text


def test_lesson_1_holds_on_two_seeds_a_false_claim_fails_and_the_stacked_pair_is_the_separate_run(monkeypatch):
    """Lesson 1 trained as the Distill page trains it (student-mlp pair, stacked), seeds 0 and 1."""
    from lab.experiments import common
    measured = []  # the test logits the check scores: per seed the labels student, the distilled one, the teacher

    def recorded_test_logits(model, dataset):
        measured.append(common.test_logits(model, dataset))
        return measured[-1]

    monkeypatch.setattr(lesson_check, "test_logits", recorded_test_logits)
    lesson = LESSONS["dark-knowledge"]
    false_claim = Claim("distillation loses", "gain", -0.1, above=False)
    subject = replace(lesson_subject(lesson), claims=lesson.claims + (false_claim,))
    results = check([subject], seeds=(0, 1))
    assert [r.passed for r in results] == [True] * len(lesson.claims) + [False]
    gain = results[0]
    assert gain.seeds == (0, 1) and len(gain.values) == 2 and gain.mean == pytest.approx(np.mean(gain.values))
    assert all(v > 0.1 for v in gain.values)
    assert len(measured) == 3 * 2
    # The same seed-0 pair trained separately, one student after the other (lab.recipes.distill_pair):
    # stacked = separate, bit for bit, so the same prediction on every test image.
    from lab.data import load
    from lab.recipes import distill_pair
    data = load("mnist-sample")
    teacher = lesson_check.teacher_for(subject, data, 0)
    s = lesson.settings
    separate = {name: common.test_logits(event.result.model, data) for name, event in
                distill_pair(data, teacher, s["student"], s["temperature"], s["alpha"],
                             common.student_config(s["epochs"], 0))
                if event.done}
    stacked = dict(zip(("hard", "distilled"), measured[:2]))
    for name in ("hard", "distilled"):
        assert torch.equal(stacked[name].argmax(-1), separate[name].argmax(-1)), name
    right = {name: separate[name].argmax(-1) == data.test_labels for name in separate}
    seed_0 = gain.details[0]
    assert (seed_0["only_labels_right"], seed_0["only_distilled_right"]) == (
        int((right["hard"] & ~right["distilled"]).sum()), int((right["distilled"] & ~right["hard"]).sum()))


def test_lessons_2_and_4_hold_on_seed_0():
    """Lesson 2 (student-mlp at T = 8, alpha = 0.5) gains; Lesson 4 (a 1-epoch teacher, trained here) loses."""
    results = check([lesson_check.lesson_subject(LESSONS[k]) for k in ("small-student", "no-help")], seeds=(0,))
    assert [(r.lesson, r.measure) for r in results] == [("small-student", "gain"), ("no-help", "teacher_accuracy"),
                                                         ("no-help", "gain")]
    assert all(r.passed for r in results), [(r.lesson, r.measure, r.values) for r in results]
    assert results[1].details[0]["teacher_accuracy"] < results[0].details[0]["teacher_accuracy"]  # 1 vs 10 epochs


def test_a_dataset_whose_files_are_absent_is_skipped_with_a_message(monkeypatch, capsys):
    monkeypatch.setattr(lesson_check, "locate", lambda name: None)
    code = main(["lessons", "--check", "--seeds", "1", "--dataset", "fashion-mnist", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0 and rows and all(r["passed"] is None and "not on this machine" in r["skipped"] for r in rows)
    assert {"lesson", "claim", "values", "mean", "passed"} <= set(rows[0])


def test_distill_without_options_takes_the_datasets_defaults(tmp_path, monkeypatch, capsys):
    """`teacher` then `distill` with no T/alpha on a (tiny, fake) Fashion-MNIST: the summary names
    Fashion-MNIST's measured defaults, not mnist-sample's."""
    from conftest import write_mnist_folder
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path / "data"))
    write_mnist_folder(tmp_path / "data" / "fashion-mnist", n_train=256, n_test=50)
    assert main(["teacher", "--dataset", "fashion-mnist", "--epochs", "1", "--out", str(tmp_path / "t")]) == 0
    assert main(["distill", "--teacher", str(tmp_path / "t"), "--epochs", "1", "--out", str(tmp_path / "s")]) == 0
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    d = defaults_for("fashion-mnist")
    assert (summary["temperature"], summary["alpha"], summary["student"]) == (d.temperature, d.alpha, d.student)
    assert (d.temperature, d.alpha) != (defaults_for("mnist-sample").temperature, defaults_for("mnist-sample").alpha)
    capsys.readouterr()


def test_bad_options_get_one_sentence(capsys):
    assert main(["lessons", "--check", "--seeds", "0"]) == 2
    assert main(["lessons", "--lesson", "lesson-99"]) == 2
    assert "Unknown lesson" in capsys.readouterr().err


def test_the_default_run_is_a_fresh_distill_pages_run_as_the_page_runs_it(monkeypatch):
    """`lessons --check`'s default run of mnist-sample is what a fresh Distill page trains on the
    first click: the settings its widgets open with (one function: dataset_defaults.run_settings),
    trained by the page's own job (lab.serve.tasks.pair: the two students taking turns)."""
    from lab.lessons.presets import from_query_params
    from lab.serve import tasks
    subject = lesson_check.defaults_subject("mnist-sample")
    fresh = from_query_params({})  # what app_pages/_app/settings.init_settings reads from a bare URL
    keys = ("dataset", "student", "temperature", "alpha", "epochs", "teacher_epochs")
    assert {k: subject.settings[k] for k in keys} == {k: fresh[k] for k in keys}
    specs = []
    page_job = tasks.pair

    def recorded(spec, stop):  # the page's job itself, with what it was asked to train noted
        specs.append(spec)
        yield from page_job(spec, stop)

    monkeypatch.setattr(tasks, "pair", recorded)
    outcome = lesson_check.outcomes(subject, 0)
    (spec,) = specs
    assert (spec["student"], spec["T"], spec["alpha"], spec["config"].epochs, spec["config"].seed) == (
        fresh["student"], fresh["temperature"], fresh["alpha"], fresh["epochs"], 0)
    assert outcome["trained_with"] == {"epochs": 30, "temperature": 4.0, "alpha": 0.9, "student": "student-mlp"}
    assert outcome["labels_accuracy"] > 80 and outcome["distilled_accuracy"] > 80
