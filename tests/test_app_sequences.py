"""The Sequences page (issue 18) through AppTest: it renders without a job (the shipped teacher's card,
the forward/reverse-KL picture); a tiny comparison runs through the ONE job system and its tables show
exactly the result's numbers, intervals and verdicts; settings no widget could send get a sentence
that says what to change, and no Run."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

import helpers
from lab.seq import limits, teacher as seq_teacher

PAGE = "app_pages/sequences.py"
# As tests/test_seq_cli.py keeps `seq compare` tiny: 200 training words, 2 steps, 30 test words
TINY = replace(limits.QUICK, steps=2, warm_steps=2, train_words=200, test_words=30, speed_words=30)


@pytest.fixture
def at():
    at = helpers.app()
    at.switch_page(PAGE).run()
    helpers.ok(at, "Sequences")
    return at


def test_renders_without_a_job(at):
    assert at.title[0].value == "Sequences"
    card = json.loads((seq_teacher.ASSET / seq_teacher.CARD).read_text())["metrics"]
    shown = {m.label: m.value for m in at.metric}
    assert shown["Teacher WER (greedy)"] == f"{card['wer']:.1%}"
    assert shown["Teacher PER"] == f"{card['per']:.2%}"
    assert any("Press **Run** to start" in i.value for i in at.info)
    modes = next(f for f in helpers.figures(at) if "two-mode teacher" in f["layout"]["title"]["text"])
    names = [t["name"] for t in modes["data"]]
    assert names[0] == "teacher (two modes)" and any(n.startswith("β = 0:") for n in names) \
        and any(n.startswith("β = 1:") for n in names)
    assert not at.button(key="seq-run").disabled


def test_a_tiny_run_finishes_and_the_table_is_the_result(at, monkeypatch):
    monkeypatch.setattr(limits, "QUICK", TINY)   # the page's short run, made tiny (the settings below on top)
    at.multiselect(key="w_seq_methods").set_value(["labels", "seq-kd"])
    at.number_input(key="w_seq_steps").set_value(2)
    at.run()
    at.button(key="seq-run").click().run()
    job = helpers.wait_for_job(at, "experiment")
    helpers.ok(at, "Sequences")
    assert job.status == "finished", job.message
    result = job.result
    assert result["test_words"] == 30 and result["settings"]["steps"] == 2
    assert result["settings"]["methods"] == ["labels", "seq-kd"] and result["warm_start"]["steps"] == 2

    table = at.dataframe[0].value
    assert list(table["method"]) == ["labels only", "sequence-level KD"]
    for (_, row), m in zip(table.iterrows(), result["methods"]):
        assert row["greedy WER %"] == pytest.approx(100 * m["greedy_wer"])
        assert row["beam WER %"] == pytest.approx(100 * m["beam_wer"])
        assert row["PER % (greedy)"] == pytest.approx(100 * m["per"][0])
        assert row["teacher tokens"] == m["teacher_tokens"]
    labels, seq = table.iloc[0], table.iloc[1]
    assert labels["verdict"] == "—" and labels["teacher tokens"] == 0
    paired = result["methods"][1]["vs_labels"][0]
    assert seq["accuracy vs labels (paired, 95 % CI)"] == paired["words"]
    assert seq["verdict"] == ("within noise" if paired["within_noise"] else "beyond noise")
    assert seq["teacher tokens"] > 0
    # the verdict is the interval's: within noise exactly when it holds 0; the words are the 30 test words
    assert (paired["low"] <= 0 <= paired["high"]) == paired["within_noise"] and paired["n"] == 30


def test_no_method_chosen_gets_a_sentence_and_no_run(at):
    at.multiselect(key="w_seq_methods").set_value([]).run()
    helpers.ok(at, "Sequences")
    assert any("Choose one or more of the methods" in e.value.replace("\\", "") for e in at.error), at.error
    assert at.button(key="seq-run").disabled


def test_kept_values_no_widget_could_show_go_back_to_defaults_with_a_sentence(at):
    """Streamlit itself refuses an out-of-range number from the browser; a session that holds one (crafted, or
    kept from an older page) would make the widget raise: the page puts it back and says so, escaped."""
    at.session_state["seq_steps"] = 10**6
    at.session_state["seq_T"] = float("nan")
    at.session_state["seq_methods"] = ["labels", "![x](http://example.invalid/x.png)"]
    at.run()
    helpers.ok(at, "Sequences")
    warning = " ".join(w.value for w in at.warning)
    plain = warning.replace("\\", "")
    assert "Steps must be a whole number from 1 to 1,200 (got 1000000)" in plain
    assert "The temperature T must be a number from 0.5 to 20 (got nan)" in plain
    assert "The methods must be some of labels" in plain
    assert "\\!\\[x\\]" in warning  # the link's Markdown is escaped: shown as typed, nothing fetched
    assert at.session_state["seq_steps"] == limits.QUICK.steps
    assert at.session_state["seq_methods"] == list(limits.METHODS)
    assert not at.button(key="seq-run").disabled
