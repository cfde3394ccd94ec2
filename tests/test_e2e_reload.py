"""A session survives a reload, in a real browser: `streamlit run` on a free port, headless Chromium.

- Train a student pair, reload (F5): Compare still shows it, the sidebar still counts it.
- Start a pair, reload while it trains: the page shows the same job, live, and watches it finish.
- A second browser (another cookie) opening the same link is another person: it sees none of it.

The identity is the `lab_id` cookie the app sets on a first visit (app_pages/_app/session.py).
Skipped without Chromium on a laptop, failed in CI (like the other browser tests).
"""
from __future__ import annotations

import re

import pytest

from helpers import CHROMIUM, require_browser
from load.server import Server

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]
LINK = "/distill?dataset=mnist-sample&student=student-mlp&T=4&alpha=0.9&epochs={epochs}&seed={seed}"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser("The reload browser test")
    tmp = tmp_path_factory.mktemp("reload")
    srv = Server({"LAB_DATA_DIR": str(tmp / "data"), "LAB_RUNS_DB": str(tmp / "runs.sqlite3")})
    try:
        srv.wait_healthy()
        yield srv.url
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


def _train_button(page):
    button = page.get_by_role("button", name=re.compile("Train both students"))
    button.wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('button')]"
                           ".some(b => /Train both students/.test(b.innerText) && !b.disabled)")
    return button


def _pairs_in_sidebar(page) -> int:
    page.locator('[data-testid="stSidebar"]').get_by_text(re.compile(r"Student pairs trained")).first.wait_for()
    text = page.locator('[data-testid="stSidebar"]').inner_text()
    return int(re.search(r"Student pairs trained: (\d+)", text).group(1))


def _no_exception(page, where: str):
    assert page.locator('[data-testid="stException"]').count() == 0, where


def test_a_trained_pair_and_a_running_job_survive_a_reload(server, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(server + LINK.format(epochs=1, seed=0))
    _train_button(page).click()
    page.get_by_text(re.compile("Finished .*student-mlp")).first.wait_for(timeout=240_000)
    assert "lab_id" in {c["name"] for c in context.cookies()}  # the browser is remembered

    page.reload()  # F5: a new Streamlit session, the same browser
    _train_button(page)
    assert _pairs_in_sidebar(page) == 1
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=re.compile("Compare")).click()
    page.get_by_text(re.compile("The distilled student is")).first.wait_for()
    assert page.get_by_text("No students yet").count() == 0
    _no_exception(page, "Compare after a reload")

    # A job keeps running through a reload, and the reloaded page follows it to the end. (12 epochs:
    # in a warm worker process 3 epochs could end before a slow reload painted, leaving no live step to see.)
    page.goto(server + LINK.format(epochs=12, seed=1))
    _train_button(page).click()
    page.get_by_text(re.compile(r"step [1-9][\d,]* of")).first.wait_for()
    page.reload()
    page.get_by_text(re.compile(r"step [1-9][\d,]* of")).first.wait_for()  # the same job, live
    page.get_by_text(re.compile("Finished .*12 epochs")).first.wait_for(timeout=300_000)
    assert _pairs_in_sidebar(page) == 2
    _no_exception(page, "Distill after a reload mid-run")

    # Someone else opening the same link is someone else.
    other = browser.new_context(viewport={"width": 1280, "height": 800})
    stranger = other.new_page()
    stranger.set_default_timeout(120_000)
    stranger.goto(server + LINK.format(epochs=1, seed=0))
    _train_button(stranger)
    assert _pairs_in_sidebar(stranger) == 0
    other.close()
    context.close()
