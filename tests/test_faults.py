"""Fault tests: what happens to a run when things go wrong around it.

- Stop mid-run (real server, real browser): the run ends within seconds and the server goes quiet.
- Closing the tab mid-run: the job ends soon after; the job's thread is gone and the server idles.
- Killing the server (SIGKILL) mid-run, then starting it again: the history is intact, runs left
  "running" by the dead server are marked incomplete, and the app serves again. The same for a
  `python -m lab teacher` process killed mid-run (`python -m lab runs --json` after the next start).
- A dataset file corrupted between runs: one clear line naming the file in the CLI (no
  traceback, exit 2, history kept), a message naming it on the page (no exception).

The browser tests use the same helpers as the load test (tests/load/run_load.py) and, like the
end-to-end test, are skipped without Chromium on a laptop but fail in CI.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import require_browser

from conftest import write_mnist_folder
from load.run_load import ARGS, CHROMIUM, ROOT, Server, cpu_seconds, proc_status
from lab.serve.runs import RunStore

# Long enough to still be training when a test closes the tab or kills the server: with the teacher's
# logits computed once, a 40-epoch MLP pair ends in seconds; 50 epochs of the small CNN take minutes.
LONG = "?dataset=mnist-sample&student=student-cnn-small&T=4&alpha=0.9&epochs=50&seed={seed}"


def _require_browser():
    require_browser("The fault tests")


def _seed_history(path: Path) -> list[dict]:
    """A history that already holds two finished runs (from an earlier class)."""
    store = RunStore(path)
    for seed in (0, 1):
        run = store.start_run("teacher", {"seed": seed}, dataset="mnist-sample", arch="teacher-cnn",
                              session="earlier")
        store.finish_run(run, "finished", metrics={"test_accuracy": 0.97}, curves=[{"epoch": 1, "loss": 0.1}])
    return [r.as_dict() for r in store.list_runs()]


def _cli(*args, env=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120, **kw)


def _runs_json(db: Path) -> list[dict]:
    """`python -m lab runs --json --full`: what the next start of the lab sees."""
    done = _cli("runs", "--json", "--full", env={"LAB_RUNS_DB": str(db)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _wait_quiet(pid: int, busy_threads: int | None = None, timeout: float = 30.0) -> dict:
    """Wait until the server uses (almost) no CPU over 2 s and, if given, runs fewer threads
    than while it trained (the job's thread has ended). Returns what was last measured."""
    deadline = time.monotonic() + timeout
    while True:
        before = cpu_seconds(pid)
        time.sleep(2.0)
        used = cpu_seconds(pid) - before
        threads = proc_status(pid).get("Threads", 0)
        seen = {"cpu_s_per_2s": round(used, 2), "threads": threads, "busy_threads": busy_threads}
        if used < 0.3 and (busy_threads is None or threads < busy_threads):
            return seen
        assert time.monotonic() < deadline, f"the server is still busy: {seen}"


def _assert_recorded(db: Path, seed: int, status: str) -> None:
    """The app recorded the tab's student pair (hard + distilled) in the history with `status`."""
    runs = [run for run in _runs_json(db) if run["config"].get("seed") == seed]
    assert sorted(run["kind"] for run in runs) == ["distilled", "hard"], runs
    assert all(run["status"] == status for run in runs), [(run["kind"], run["status"]) for run in runs]


# ---------------------------------------------------------------- a server and a browser

@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    _require_browser()
    tmp = tmp_path_factory.mktemp("faults")
    log = ROOT / "artifacts" / "streamlit-faults.log" if (ROOT / "artifacts").is_dir() else None
    # A short grace period: a closed tab's job stops 3 s after its last tab is gone (15 s by default).
    server = Server({"LAB_DATA_DIR": str(tmp / "data"), "LAB_RUNS_DB": str(tmp / "runs.sqlite3"),
                     "LAB_JOB_GRACE_S": "3"}, log)
    try:
        server.wait_healthy()
        server.db = tmp / "runs.sqlite3"
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


def _start_long_run(browser, url: str, seed: int):
    """A fresh tab (its own Streamlit session) that starts a 40-epoch student pair and is training."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(90_000)
    page.goto(f"{url}/distill{LONG.format(seed=seed)}")
    button = page.get_by_role("button", name=re.compile("Train both students"))
    button.wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('button')]"
                           ".some(b => /Train both students/.test(b.innerText) && !b.disabled)")
    button.click()
    page.get_by_text(re.compile(r"step [1-9][\d,]* of")).first.wait_for()
    return context, page


def _stop_button(page):
    """The page's Stop (the header has a Stop of its own, for the script run)."""
    return page.locator('[data-testid="stMainBlockContainer"]').get_by_role("button", name="Stop")


def test_stop_mid_run_ends_the_job_and_the_server_goes_quiet(lab_server, browser):
    context, page = _start_long_run(browser, lab_server.url, seed=1)
    try:
        clicked = time.monotonic()
        _stop_button(page).click()
        page.get_by_text(re.compile("Stopped")).first.wait_for(timeout=15_000)
        assert time.monotonic() - clicked < 15
        assert page.locator('[data-testid="stException"]').count() == 0
        _wait_quiet(lab_server.pid)
    finally:
        context.close()
    _assert_recorded(lab_server.db, seed=1, status="stopped")


def test_closing_the_tab_mid_run_ends_the_job(lab_server, browser):
    context, page = _start_long_run(browser, lab_server.url, seed=2)
    page.wait_for_timeout(1000)
    busy = proc_status(lab_server.pid)["Threads"]  # includes the job's training thread
    context.close()  # the tab is gone: its websocket closes
    closed = time.monotonic()
    seen = _wait_quiet(lab_server.pid, busy_threads=busy, timeout=30)
    assert time.monotonic() - closed < 32, seen
    _assert_recorded(lab_server.db, seed=2, status="stopped")  # closed, not left "running"
    # The server still serves everyone else.
    again, page = _start_long_run(browser, lab_server.url, seed=3)
    again.close()
    _wait_quiet(lab_server.pid)


def test_killing_the_server_mid_run_keeps_the_history(tmp_path, browser):
    db = tmp_path / "runs.sqlite3"
    earlier = _seed_history(db)
    env = {"LAB_DATA_DIR": str(tmp_path / "data"), "LAB_RUNS_DB": str(db)}
    server = Server(env)
    try:
        server.wait_healthy()
        context, page = _start_long_run(browser, server.url, seed=4)
        page.wait_for_timeout(1500)  # a few steps (and, where the app records runs, an epoch's curve)
        server.stop(signal.SIGKILL)  # no shutdown code runs: a crash, a pulled plug
        context.close()
    finally:
        server.stop()
    assert server.proc.returncode == -signal.SIGKILL

    restarted = Server(env)
    try:
        restarted.wait_healthy()
        context, page = _start_long_run(browser, restarted.url, seed=5)  # the app works again
        _stop_button(page).click()
        page.get_by_text(re.compile("Stopped")).first.wait_for(timeout=15_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        context.close()
    finally:
        restarted.stop()

    after = {run["id"]: run for run in _runs_json(db)}
    for run in earlier:  # every earlier run is still there, unchanged
        assert after[run["id"]] == run
    from_app = [run for run in after.values() if run["session"] != "earlier"]
    assert all(run["status"] != "running" for run in from_app), from_app  # nothing left half-open
    killed = [run for run in from_app if run["config"].get("seed") == 4]
    assert sorted(run["kind"] for run in killed) == ["distilled", "hard"], from_app
    assert all(run["status"] == "incomplete" and "ended without finishing" in run["message"]
               for run in killed), killed


def test_a_killed_cli_run_is_incomplete_at_the_next_start(tmp_path):
    db = tmp_path / "runs.sqlite3"
    earlier = _seed_history(db)
    env = {**os.environ, "LAB_RUNS_DB": str(db), "LAB_DATA_DIR": str(tmp_path / "data"), "LAB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "lab", "teacher", "--dataset", "mnist-sample", "--epochs", "50",
                             "--out", str(tmp_path / "teacher")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not RunStore(db).list_runs(status="running"):  # its first training step is recorded
            assert proc.poll() is None and time.monotonic() < deadline, "the CLI run never started"
            time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    runs = {run["id"]: run for run in _runs_json(db)}  # the next start of the lab
    for run in earlier:
        assert runs[run["id"]] == run
    killed = [run for run in runs.values() if run["session"] != "earlier"]
    assert len(killed) == 1 and killed[0]["status"] == "incomplete", killed
    assert "ended without finishing" in killed[0]["message"]
    assert not (tmp_path / "teacher" / "model.json").exists()  # no half-written checkpoint claims success


# ---------------------------------------------------------------- a dataset file corrupted between runs

def _corrupt(path: Path) -> None:
    """Cut the file in half, as an interrupted copy or download would."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_dataset_file_corrupted_between_cli_runs(tmp_path):
    data_dir = tmp_path / "data"
    write_mnist_folder(data_dir / "mnist", n_train=200, n_test=100)
    db = tmp_path / "runs.sqlite3"
    env = {"LAB_DATA_DIR": str(data_dir), "LAB_RUNS_DB": str(db), "LAB_OFFLINE": "1"}
    first = _cli("teacher", "--dataset", "mnist", "--model", "student-mlp", "--epochs", "1",
                 "--out", str(tmp_path / "t1"), env=env)
    assert first.returncode == 0, first.stderr
    before = [run for run in _runs_json(db)]
    assert [run["status"] for run in before] == ["finished"]

    bad = data_dir / "mnist" / "train-images-idx3-ubyte.gz"
    _corrupt(bad)
    second = _cli("teacher", "--dataset", "mnist", "--model", "student-mlp", "--epochs", "1",
                  "--out", str(tmp_path / "t2"), env=env)
    assert second.returncode == 2
    assert "Traceback" not in second.stderr, second.stderr
    errors = [line for line in second.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and str(bad) in errors[0] and "download it again" in errors[0], second.stderr
    assert _runs_json(db) == before  # nothing recorded lost, nothing half-recorded
    assert not (tmp_path / "t2").exists()


def test_a_dataset_file_corrupted_between_runs_on_the_page(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    import importlib
    glue = importlib.import_module("app_pages._app.teachers")  # the app's dataset cache
    data_dir = tmp_path / "data"
    write_mnist_folder(data_dir / "mnist", n_train=200, n_test=100)
    monkeypatch.setenv("LAB_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LAB_RUNS_DB", str(tmp_path / "runs.sqlite3"))
    glue._load_dataset.clear()
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.query_params["dataset"] = "mnist"
    at.switch_page("app_pages/data.py")
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.exception or at.error]

    bad = data_dir / "mnist" / "t10k-labels-idx1-ubyte.gz"
    _corrupt(bad)
    glue._load_dataset.clear()  # the next server start (or a cache expiry) reads the files again
    import lab.data
    lab.data._load_cached.cache_clear()
    for page in ("app_pages/data.py", "app_pages/teacher.py", "app_pages/distill.py"):
        at.switch_page(page)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert any(str(bad) in e.value for e in at.error), (page, [e.value for e in at.error])
    glue._load_dataset.clear()
