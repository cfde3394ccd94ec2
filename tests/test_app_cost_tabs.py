"""The two issue-12 tabs of the Experiments page through AppTest: both render with their
explanation; a tiny frontier runs in the background (live progress), shows its chart and its
"smallest student within N points" picker, is kept for the session and recorded in the history."""
from __future__ import annotations

import time

import pytest

import helpers

PAGE = "app_pages/experiments.py"


@pytest.fixture
def history(tmp_path, monkeypatch):
    path = tmp_path / "runs.sqlite3"
    monkeypatch.setenv("LAB_RUNS_DB", str(path))
    monkeypatch.setenv("LAB_EXPERIMENT_CACHE", str(tmp_path / "cache"))
    return path


def _page(experiment: str):
    at = helpers.app()
    at.switch_page(PAGE)
    at.session_state["x_experiment"] = experiment
    return at.run()


def test_both_tabs_render_with_their_explanation(history):
    at = _page("frontier")
    helpers.ok(at, "frontier")
    text = "\n".join(m.value for m in at.markdown)
    assert "80-95 %" in text and "one measurement" in text
    assert any(b.label == "Run" for b in at.button)
    at.session_state["x_experiment"] = "blackbox"
    at.run()
    helpers.ok(at, "blackbox")
    text = "\n".join(m.value for m in at.markdown)
    assert "spread uniformly" in text and "queries" in text
    assert at.multiselect(key="w_x_bb_settings").value == ["full-logits", "top-5", "top-2", "top-1", "answer",
                                                           "unlabeled"]


def test_a_tiny_frontier_runs_shows_its_chart_and_is_recorded(history):
    at = _page("frontier")
    at.number_input(key="w_x_front_seeds").set_value(1)
    at.number_input(key="w_x_front_epochs").set_value(1).run()
    next(b for b in at.button if b.label == "Run").click().run()
    job = [j for j in at.session_state["jobs"] if j.kind == "experiment"][-1]
    deadline = time.monotonic() + 240
    while not job.done:
        assert time.monotonic() < deadline, "the frontier did not end in time"
        time.sleep(0.5)
        at.run()
    at.run()
    helpers.ok(at, "frontier finished")
    assert job.status == "finished", job.message
    chart = next(f for f in helpers.figures(at) if f["layout"].get("xaxis", {}).get("type") == "log")
    assert {"labels only", "distilled", "Pareto front (distilled)"} <= {t.get("name") for t in chart["data"]}
    assert any("within" in m.value or "fewer parameters" in m.value for m in at.markdown)
    table = at.dataframe[0].value
    assert list(table["student"]) == ["student-mlp-256", "student-mlp-96", "student-mlp", "student-mlp-12",
                                      "student-mlp-4", "student-mlp-2"]
    from lab.serve.runs import RunStore
    runs = [r for r in RunStore(history).list_runs() if r.status == "finished"]
    assert runs and runs[0].metrics["test_accuracy"] == max(table["distilled"])


def test_compare_shows_where_distillation_helped_image_by_image(history):
    """A 1-epoch pair on the shipped teacher: the Compare page splits the test images by which student
    alone is right (the counts are the paired table's off-diagonal), as a grid, with an image's bars."""
    at = helpers.app({"epochs": "1", "student": "student-mlp"})
    at.switch_page("app_pages/distill.py").run()
    next(b for b in at.button if "Train both" in b.label).click().run()
    job = helpers.wait_for_job(at, "distill")
    assert job.status == "finished", job.message
    at.switch_page("app_pages/compare.py").run()
    helpers.ok(at, "Compare")
    assert any(h.value == "Where distillation helped, image by image" for h in at.subheader)
    from lab.data import load
    from lab.stats import correct
    test_labels = load("mnist-sample").test_labels
    right_hard = correct(job.runs["hard"].test_logits, test_labels)
    right_distilled = correct(job.runs["distilled"].test_logits, test_labels)
    only_distilled, only_hard = int((right_distilled & ~right_hard).sum()), int((right_hard & ~right_distilled).sum())
    text = "\n".join(m.value for m in at.markdown)
    assert f"alone gets {only_distilled:,} test image" in text and f"the label-trained one alone {only_hard:,}" in text
    figs = helpers.figures(at)
    grid = next(f for f in figs if f["data"][0]["type"] == "image")
    shown = [row[0] for row in grid["data"][1]["customdata"]]
    assert len(shown) == min(40, only_distilled) and all(right_distilled[i] and not right_hard[i] for i in shown)
    bars = next(f for f in figs if f["layout"].get("title", {}).get("text") == "Soft targets on this image")
    assert [t["name"] for t in bars["data"]] == ["teacher", "student on labels", "distilled student"]
