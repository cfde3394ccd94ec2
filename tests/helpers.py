"""Helpers shared by the app and browser tests (tests/ is on sys.path when pytest runs them)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENTRY = ROOT / "streamlit_app.py"
CHROMIUM = os.environ.get("LAB_CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_browser(what: str) -> None:
    """Skip on a laptop without Chromium/playwright; fail in CI, where the browser is part of the contract."""
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "the python package `playwright` is not installed (pip install playwright)"
    if problem is None and not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        problem = f"no Chromium at {CHROMIUM} (apt install chromium, or set LAB_CHROMIUM)"
    if problem:
        if IN_CI:
            pytest.fail(f"{what} cannot run in CI: {problem}.")
        pytest.skip(problem)


def app(query: dict | None = None):
    """The whole app (entry point + navigation) in AppTest, after its first run."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(ENTRY), default_timeout=120)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def figures(at) -> list[dict]:
    """The plotly figures the page drew, as JSON (what the browser receives)."""
    import json
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def ok(at, where: str) -> None:
    assert not at.exception, f"{where}: {[e.value for e in at.exception]}"


def one_error_line(capsys, *needles, quiet_stdout: bool = False) -> str:
    """The CLI's contract for bad input: exactly one `error:` line holding every needle and no
    traceback (a progress bar drawn before the failure may precede it); with `quiet_stdout`,
    nothing on stdout either (no half-written result)."""
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err, captured.err
    if quiet_stdout:
        assert captured.out == "", captured.out
    errors = [line for line in captured.err.strip().splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, captured.err
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def wait_for_job(at, kind: str, timeout: float = 120):
    """Re-run the page (as the polling fragment would) until this session's latest `kind` job ends."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        jobs = [j for j in at.session_state["jobs"] if j.kind == kind]
        if jobs and jobs[-1].done:
            at.run()
            return jobs[-1]
        assert time.monotonic() < deadline, "the job did not end in time"
        time.sleep(0.3)
        at.run()


def close_every_tab(monkeypatch) -> None:
    """Pretend a Streamlit server runs and every browser session in it is gone (tab closed)."""
    from streamlit.runtime import Runtime

    class GoneRuntime:
        def is_active_session(self, session_id):
            return False

    monkeypatch.setattr(Runtime, "exists", classmethod(lambda cls: True))
    monkeypatch.setattr(Runtime, "instance", classmethod(lambda cls: GoneRuntime()))
