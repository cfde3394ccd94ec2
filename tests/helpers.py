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


def ok(at, where: str) -> None:
    assert not at.exception, f"{where}: {[e.value for e in at.exception]}"
