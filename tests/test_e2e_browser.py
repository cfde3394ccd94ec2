"""End to end in a real browser: `streamlit run` on a free port, headless Chromium driven by
playwright. Visits every page, trains a tiny teacher and a student pair on mnist-sample, checks
the curves and the comparison, stops a run, and asserts that no page shows an exception.

Screenshots of every page land in artifacts/screenshots/ (git-ignored). Without a browser the
test is skipped on a laptop, but fails in CI (CI=true): the browser is part of the contract.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from helpers import require_browser

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("LAB_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]


def _require_browser():
    require_browser("The end-to-end browser test")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _require_browser()
    port = _free_port()
    # Its own run history: the runs this test trains never land in the user's.
    env = {**os.environ, "LAB_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           "LAB_RUNS_DB": str(tmp_path_factory.mktemp("e2e") / "runs.sqlite3"),
           "LAB_DATA_DIR": str(tmp_path_factory.mktemp("e2e-data"))}  # its own teacher cache too
    log = open(ROOT / "artifacts" / "streamlit-e2e.log", "w") if (ROOT / "artifacts").is_dir() else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read().strip() == b"ok":
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("streamlit did not become healthy within 90 s")
        time.sleep(0.5)
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def browser_page(server):
    from playwright.sync_api import sync_playwright
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def _settle(page, min_charts: int = 0):
    """Wait for the script run to finish (no 'Running…' status) and for charts to draw."""
    page.wait_for_selector('[data-testid="stMain"]')
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"] [data-testid=\"stStatusWidgetRunningIcon\"]')",
                           timeout=60_000)
    if min_charts:
        page.wait_for_function(f"() => document.querySelectorAll('.js-plotly-plot').length >= {min_charts}",
                               timeout=60_000)
    page.wait_for_timeout(300)


def _no_exception(page, where: str):
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, f"{where} shows an exception: {errors.first.inner_text()[:500]}"


def _shot(page, name: str):
    """The whole page: Streamlit scrolls inside its main block, so grow the viewport to fit it."""
    height = page.evaluate("""() => Math.max(...['stMain', 'stAppViewContainer', 'stMainBlockContainer']
        .map(id => document.querySelector(`[data-testid="${id}"]`)).filter(Boolean).map(e => e.scrollHeight))""")
    page.set_viewport_size({"width": 1440, "height": int(min(max(height, 1000), 5000))})
    page.wait_for_timeout(600)  # plotly redraws at the new size
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    page.set_viewport_size({"width": 1440, "height": 1000})


def _goto(page, title: str):
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=re.compile(title)).click()
    page.get_by_role("heading", name=re.compile(title)).first.wait_for()


def _choose(page, label: str, option: str):
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=re.compile(re.escape(option))).first.click()


def _set_number(page, label: str, value):
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Tab")  # not Enter: Enter inside a form submits it (a second, unintended training run)


def test_every_page_train_compare_and_stop_in_a_real_browser(server, browser_page):
    try:
        _walk_through(server, browser_page)
    except Exception:
        _shot(browser_page, "failure")  # what the browser showed when it went wrong
        raise


def _walk_through(server, page):
    # A shared link: the URL carries the experiment (tiny, so the test stays fast).
    page.goto(f"{server}/?dataset=mnist-sample&student=student-mlp&T=4&alpha=0.9&epochs=1&seed=0")
    page.get_by_role("heading", name=re.compile("Concepts")).wait_for()
    _settle(page, min_charts=3)
    _no_exception(page, "Concepts")
    _shot(page, "1-concepts")

    for i, (title, charts) in enumerate([("Data", 2), ("Dark knowledge", 5)], start=2):
        _goto(page, title)
        _settle(page, min_charts=charts)
        _no_exception(page, title)
        _shot(page, f"{i}-{title.lower().replace(' ', '-')}")

    # Teacher: train a tiny one (an MLP, one epoch) and see its curves and result card.
    _goto(page, "Teacher")
    _settle(page)
    _shot(page, "3-teacher-pretrained")
    _choose(page, "Architecture", "student-mlp")
    _set_number(page, "Epochs", 1)
    page.get_by_role("button", name=re.compile("Train teacher")).click()
    page.get_by_text(re.compile("Finished .*student-mlp")).wait_for(timeout=120_000)
    _settle(page, min_charts=1)
    assert page.get_by_text("Test accuracy").count() >= 1
    _no_exception(page, "Teacher after training")
    _shot(page, "3-teacher-trained")

    # Distill: the link set student-mlp and 1 epoch; both students train, curves on one chart.
    _goto(page, "Distill")
    _settle(page)
    page.get_by_text(re.compile("Teacher: your student-mlp")).first.wait_for()  # the new teacher is in use
    page.get_by_role("button", name=re.compile("Train both students")).click()
    page.get_by_text(re.compile("Finished .*student-mlp")).wait_for(timeout=120_000)
    _settle(page, min_charts=1)
    page.get_by_text(re.compile("The distilled student is")).first.wait_for()
    _no_exception(page, "Distill")
    _shot(page, "5-distill")

    _goto(page, "Compare")
    _settle(page, min_charts=2)
    page.get_by_text(re.compile("The distilled student is")).first.wait_for()
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1
    _no_exception(page, "Compare")
    _shot(page, "6-compare")

    # Stop: start a long teacher run, press Stop, and see it end within a few seconds.
    _goto(page, "Teacher")
    _settle(page)
    _choose(page, "Architecture", "teacher-cnn")
    _set_number(page, "Epochs", 10)
    page.get_by_role("button", name=re.compile("Train teacher")).click()
    page.get_by_text(re.compile(r"step \d+ of")).first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    _shot(page, "3-teacher-running")
    clicked = time.monotonic()
    # In the page (the header's own "Stop" stops a script run while one is in progress).
    page.locator('[data-testid="stMain"]').get_by_role("button", name=re.compile("Stop")).click()
    page.get_by_text(re.compile("Stopped")).first.wait_for(timeout=15_000)
    assert time.monotonic() - clicked < 15
    _settle(page)
    _no_exception(page, "Teacher after Stop")
    _shot(page, "3-teacher-stopped")

    # Experiments: the page and its convention panel's instant chart (no training here).
    _goto(page, "Experiments")
    _settle(page)
    _no_exception(page, "Experiments")
    _shot(page, "7-experiments")
    page.get_by_text("Conventions & what breaks").first.click()
    _settle(page, min_charts=1)
    _no_exception(page, "Experiments: conventions")
    _shot(page, "7-experiments-conventions")
    for tab, shot in (("Cost-quality frontier", "frontier"), ("Black-box teacher", "blackbox")):  # issue 12's tabs
        page.get_by_text(tab).first.click()
        page.get_by_role("button", name="Run").first.wait_for()
        _settle(page)
        _no_exception(page, f"Experiments: {tab}")
        _shot(page, f"7-experiments-{shot}")

    # The classroom pages: the runs above are in the History; Lessons; Draw a digit.
    for i, (title, charts) in enumerate([("History", 1), ("Lessons", 0), ("Draw a digit", 0)], start=8):
        _goto(page, title)
        _settle(page, min_charts=charts)
        _no_exception(page, title)
        if title == "History":
            assert page.locator('[data-testid="stDataFrame"]').count() >= 1  # the runs trained above
        if title == "Draw a digit":  # draw a "1" with the mouse: three models answer, with soft targets
            frame = page.locator('iframe[title*="st_canvas"]').first
            frame.wait_for()
            box = frame.bounding_box()
            x, top = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.15
            page.mouse.move(x, top)
            page.mouse.down()
            for k in range(1, 21):
                page.mouse.move(x + k * 0.4, top + k * box["height"] * 0.035)
            page.mouse.up()
            page.get_by_text("what the models see (28×28)").wait_for(timeout=20_000)
            _settle(page, min_charts=3)
            assert page.get_by_text(re.compile("^Distilled student")).count() >= 1
        _shot(page, f"{i}-{title.lower().replace(' ', '-')}")

    # Every page once more, after all that: still no exception anywhere.
    for title in ("Concepts", "Data", "Teacher", "Dark knowledge", "Distill", "Compare", "Experiments", "History",
                  "Lessons", "Draw a digit"):
        _goto(page, title)
        _settle(page)
        _no_exception(page, title)
