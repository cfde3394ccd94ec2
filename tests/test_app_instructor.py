"""The Instructor page in AppTest: locked without a key (and says how to set one), a wrong key is
refused, the key from Streamlit secrets unlocks it, and the class view shows a synthetic history's
pairs (the numbers themselves are checked in test_classroom.py)."""
from __future__ import annotations

import pytest

from helpers import ENTRY, figures, ok
from test_classroom import _pair

PAGE = "app_pages/instructor.py"


@pytest.fixture
def history(tmp_path, monkeypatch):
    from lab.serve.runs import RunStore
    monkeypatch.setenv("LAB_RUNS_DB", str(tmp_path / "runs.sqlite3"))
    monkeypatch.delenv("LAB_INSTRUCTOR_KEY", raising=False)
    store = RunStore(tmp_path / "runs.sqlite3")
    _pair(store, "s-ada", 4.0, 0.9, 0.90, 0.92, name="Ada",
          counts={"n": 1000, "both": 890, "hard_only": 10, "distilled_only": 30, "neither": 70})
    _pair(store, "s-anon", 2.0, 0.5, 0.93, 0.92)
    return store


def _instructor(secrets: dict | None = None):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(ENTRY), default_timeout=120)
    for k, v in (secrets or {}).items():
        at.secrets[k] = v
    at.run()
    at.switch_page(PAGE).run()
    ok(at, "Instructor")
    return at


def test_locked_without_a_key_says_how_to_set_one(history):
    at = _instructor()
    assert "LAB_INSTRUCTOR_KEY" in at.info[0].value and "secrets.toml" in at.info[0].value
    assert not at.get("plotly_chart") and not [t for t in at.text_input if t.label == "Instructor key"]


def test_the_secret_key_unlocks_the_class_view(history):
    at = _instructor({"instructor_key": "s3cret"})
    key = next(t for t in at.text_input if t.label == "Instructor key")
    key.input("wrong")
    at.button[0].click().run()  # the form's Unlock button
    assert "not the instructor key" in at.error[0].value and not at.get("plotly_chart")

    next(t for t in at.text_input if t.label == "Instructor key").input("s3cret")
    at.button[0].click().run()
    ok(at, "unlocked")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Student pairs today"] == "2" and metrics["Students"] == "2"
    assert metrics["Mean gain ± sd over pairs"].startswith("+0.5 ±")  # (+2 and -1 points) / 2
    titles = [f["layout"]["title"]["text"] for f in figures(at)]
    assert any(t.startswith("Class sweep: 2 pairs, 2 of") for t in titles), titles
    assert "Ada" in at.dataframe[0].value["student"].tolist()
    assert at.get("image")  # the lesson's QR code, and its link in large type
    from lab.lessons.presets import LESSONS
    first = next(iter(LESSONS))  # the lesson picker's first choice
    assert any(f"/lessons?lesson={first}" in m.value for m in at.markdown)

    address = next(t for t in at.text_input if t.label == "Address the students open")
    address.input("http://[::1").run()  # not an address: one sentence, no QR code, no exception
    ok(at, "bad address")
    assert any("Type the address" in w.value for w in at.warning) and not at.get("image")

    at.switch_page(PAGE).run()  # still unlocked on the next visit (kept with the session)
    assert not [t for t in at.text_input if t.label == "Instructor key"]


def _sources(at) -> list[str]:
    """The Markdown source of every text element on the page (what Streamlit renders as Markdown)."""
    return [str(e.value) for kind in ("markdown", "caption", "info", "warning", "error", "success")
            for e in at.get(kind)]


def test_hostile_names_are_text_on_the_projector(tmp_path, monkeypatch):
    """A name is shown as typed: never an image fetched (`![](http://x)`), bold (`**`), a tag, a
    direction flip (U+202E) or a 10,000-character wall, in the captions, the table and the charts."""
    from lab.serve.runs import RunStore
    from test_classroom import HOSTILE_NAMES
    monkeypatch.setenv("LAB_RUNS_DB", str(tmp_path / "runs.sqlite3"))
    store = RunStore(tmp_path / "runs.sqlite3")
    for i, name in enumerate(HOSTILE_NAMES[:3]):  # the newest three are named in the "Just finished" line
        _pair(store, f"s-{i}", 4.0, 0.9, 0.90, 0.92 + i / 100, name=name)
    at = _instructor({"instructor_key": "k"})
    next(t for t in at.text_input if t.label == "Instructor key").input("k")
    at.button[0].click().run()
    ok(at, "unlocked")
    just = next(c for c in _sources(at) if "Just finished" in c)
    assert "\\!\\[\\]\\(http\\:\\/\\/x\\)" in just and "![](" not in just  # escaped: no image, no fetch
    assert "\\*\\*bold\\*\\*" in just and "\\<script\\>" in just and "<script>" not in just
    assert not any("![](" in c or "<script>" in c for c in _sources(at))
    assert set(HOSTILE_NAMES[:3]) <= set(at.dataframe[0].value["student"])  # a table cell is plain text
    for figure in figures(at):
        for trace in figure["data"]:
            for text in (trace.get("text") or []) if isinstance(trace.get("text"), list) else []:
                assert "<script" not in str(text) and "<a " not in str(text)

    # Typed in the sidebar: a right-to-left override is dropped; a 10,000-character name never lands
    # whole (the field takes 30 characters, and the cleaner keeps at most 30 of whatever arrives).
    field = lambda: next(t for t in at.sidebar.text_input if t.label == "Your name (optional)")  # noqa: E731
    field().input("\u202eevil\u202c <b>me</b>").run()
    ok(at, "a name typed")
    assert at.session_state["_record"].prefs["display_name"] == "evil <b>me</b>"
    field().input("x" * 10_000).run()
    ok(at, "a long name typed")
    assert len(at.session_state["_record"].prefs["display_name"]) <= 30
