"""The Distill page's defaults are the measured defaults (lab.lessons.dataset_defaults, issue 15 item 1):
the first click trains what the caption above the widgets says; a dataset switch applies the new
dataset's defaults with a one-line notice; a link's explicit values and a lesson's settings win."""
from __future__ import annotations

import re

import helpers

DISTILL = "app_pages/distill.py"


def _caption_settings(at) -> dict:
    """T, α and epochs as the Distill page's defaults caption states them."""
    caption = next(c.value for c in at.caption if "Defaults for" in c.value)
    found = re.search(r"T = ([\d.]+), α = ([\d.]+), (\d+) epochs", caption)
    assert found, caption
    return {"T": float(found[1]), "alpha": float(found[2]), "epochs": int(found[3])}


def test_the_first_click_on_distill_trains_what_the_caption_says():
    at = helpers.app()  # a fresh page: no link, mnist-sample
    at.switch_page(DISTILL).run()
    helpers.ok(at, "Distill")
    said = _caption_settings(at)
    assert said == {"T": 4.0, "alpha": 0.9, "epochs": 30}
    assert (at.slider(key="w_T").value, at.slider(key="w_alpha").value, at.number_input(key="w_epochs").value) == (
        said["T"], said["alpha"], said["epochs"])
    next(b for b in at.button if "Train both" in b.label).click().run()
    job = helpers.wait_for_job(at, "distill", timeout=600)
    helpers.ok(at, "Distill after the run")
    assert job.status == "finished", job.message
    trained = {"T": float(job.settings["T"]), "alpha": float(job.settings["alpha"]), "epochs": job.settings["epochs"]}
    assert trained == said
    for run in job.runs.values():  # and each student really made that many passes
        assert run.metrics["epochs_done"] == said["epochs"] and run.history[-1]["epoch"] == said["epochs"]


def test_a_dataset_switch_applies_its_defaults_and_says_what_changed():
    at = helpers.app()
    at.switch_page(DISTILL).run()
    at.sidebar.selectbox(key="w_dataset").set_value("fashion-mnist").run()  # its files need not be here
    helpers.ok(at, "switched")
    assert (at.session_state["T"], at.session_state["alpha"], at.session_state["epochs"]) == (2.0, 0.25, 30)
    assert any(i.value == "Defaults for fashion-mnist: T 4 → 2, α 0.9 → 0.25." for i in at.info)
    at.run()
    assert not any("Defaults for fashion-mnist:" in i.value for i in at.info)  # said once
    at.sidebar.selectbox(key="w_dataset").set_value("mnist-sample").run()
    assert (at.session_state["T"], at.session_state["alpha"]) == (4.0, 0.9)
    assert at.query_params["T"] in ("4", ["4"])  # the link follows


def test_a_links_own_values_and_a_lessons_settings_win():
    at = helpers.app({"dataset": "fashion-mnist", "T": "3"})  # the link names T: it wins over the defaults
    assert (at.session_state["T"], at.session_state["alpha"]) == (3.0, 0.25)
    lesson = helpers.app({"lesson": "small-student"})
    lesson.sidebar.selectbox(key="w_dataset").set_value("fashion-mnist").run()
    helpers.ok(lesson, "a lesson on another dataset")
    assert (lesson.session_state["T"], lesson.session_state["alpha"]) == (8.0, 0.5)  # the lesson keeps its own
