"""The instructor page in a real browser, two sessions on one server: a student (who chose a name)
trains a one-epoch pair on the Distill page; the instructor, on the unlocked Instructor page, sees it
appear without reloading. A screenshot at 1400 px lands in artifacts/screenshots/instructor.png."""
from __future__ import annotations

import re

import pytest

from helpers import CHROMIUM, ROOT, require_browser
from load.server import Server

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]
KEY = "class-key-123"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser("The instructor page's browser test")
    tmp = tmp_path_factory.mktemp("instructor")
    server = Server({"LAB_RUNS_DB": str(tmp / "runs.sqlite3"), "LAB_DATA_DIR": str(tmp / "data"),
                     "LAB_INSTRUCTOR_KEY": KEY}, log_path=tmp / "server.log")
    try:
        server.wait_healthy()
        yield server.url
    finally:
        server.stop()


def _settled(page):
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidgetRunningIcon\"]')",
                           timeout=60_000)


def _shot(page, name: str):
    """The whole page at 1400 px: Streamlit scrolls inside its main block, so grow the viewport to fit."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": int(min(max(height, 1000), 4000))})
    page.wait_for_timeout(800)  # plotly redraws at the new size
    shots = ROOT / "artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"{name}.png"))
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_a_students_pair_appears_on_the_instructors_view(server):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            # Two browser contexts: two people (separate cookies and storage).
            teacher = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            student = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            for page in (teacher, student):
                page.set_default_timeout(60_000)

            teacher.goto(f"{server}/instructor")
            teacher.get_by_label("Instructor key", exact=True).fill("wrong")
            teacher.get_by_role("button", name="Unlock").click()
            teacher.get_by_text(re.compile("not the instructor key")).wait_for()
            teacher.get_by_label("Instructor key", exact=True).fill(KEY)
            teacher.get_by_role("button", name="Unlock").click()
            teacher.get_by_text(re.compile("No student pair has finished today")).wait_for()

            student.goto(f"{server}/distill?dataset=mnist-sample&student=student-mlp&T=2&alpha=0.5&epochs=1")
            student.get_by_role("heading", name="Distill", exact=True).wait_for()
            name = student.get_by_label("Your name (optional)", exact=True)
            name.fill("Ada")
            name.press("Tab")
            _settled(student)
            student.get_by_role("button", name=re.compile("Train both students")).click()
            student.get_by_text(re.compile("Finished .*student-mlp")).wait_for(timeout=180_000)

            # The instructor's page refreshes by itself: Ada's pair, with its interval's verdict.
            main = teacher.locator('[data-testid="stMain"]')
            main.get_by_text(re.compile(r"Just finished: Ada \(T=2, α=0.5\) [+-]\d+\.\d pt, (within|beyond) noise")) \
                .wait_for(timeout=30_000)
            main.get_by_text("Every pair (1)").wait_for()
            teacher.wait_for_function(  # the class sweep, the pairs, the spread (plotly draws a moment later)
                "() => document.querySelectorAll('[data-testid=\"stMain\"] .js-plotly-plot').length === 3")
            _shot(teacher, "instructor")
            # "Send everyone this lesson": a QR code and the lesson's link in large type.
            teacher.get_by_role("tab", name=re.compile("Send everyone")).click()
            from lab.lessons.presets import LESSONS
            main.get_by_text(re.compile(rf"/lessons\?lesson={re.escape(next(iter(LESSONS)))}")).wait_for()
            assert main.get_by_role("img").count() >= 1
            _shot(teacher, "instructor-send")
            assert main.locator('[data-testid="stException"]').count() == 0
        finally:
            browser.close()
