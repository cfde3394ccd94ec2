"""The README's screenshot: the Distill page after one click on "Train both students".

    flock /tmp/heavy.lock nice -n 5 python scripts/screenshot.py                # -> assets/screenshot-distill.png
    python scripts/screenshot.py --no-train --out /tmp/distill.png              # the page before a run

Starts `streamlit run streamlit_app.py` on 127.0.0.1 (a free port, a temporary data folder and run
history, offline), opens the Distill page in headless Chromium through playwright (Debian's
/usr/bin/chromium or $LAB_CHROMIUM: never `playwright install`), trains the default pair on
mnist-sample (the pretrained teacher in assets/, student-mlp, T = 4, α = 0.9, 30 epochs, seed 0:
about a minute on 2 cores), waits for the verdict and the charts, saves the PNG and stops the server.
It touches 127.0.0.1 only. Needs: pip install -r requirements.txt playwright.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
CHROMIUM = os.environ.get("LAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# The setup in the link: the Distill page's measured defaults on the offline digits (lab/lessons/dataset_defaults.py).
SETUP = "dataset=mnist-sample&student=student-mlp&T=4&alpha=0.9&epochs={epochs}&seed=0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, port: int, log) -> subprocess.Popen:
    env = {**os.environ, "LAB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "LAB_DATA_DIR": str(data_dir),
           "LAB_RUNS_DB": str(data_dir / "runs.sqlite3")}  # its own history: the picture shows one pair
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", HOST, "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_healthy(proc: subprocess.Popen, url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"error: streamlit exited with code {proc.returncode}; see its log above")
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read().strip() == b"ok":
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"error: streamlit did not answer {url}/_stcore/health within {timeout:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)  # its own process group: the server and anything it started
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def settle(page, min_charts: int = 0) -> None:
    """Wait until no script run is in progress and at least `min_charts` plotly charts are drawn."""
    page.wait_for_selector('[data-testid="stMain"]')
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidgetRunningIcon\"]')")
    if min_charts:
        page.wait_for_function(f"() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= {min_charts}")
    page.wait_for_timeout(1500)  # plotly's transitions and the fonts


def bottom_of_charts(page, height: int) -> int:
    """Where the picture ends: just below the last chart (the gain chart after a run), else the viewport."""
    charts = page.locator(".js-plotly-plot")
    box = charts.last.bounding_box() if charts.count() else None
    return height if box is None else min(height, int(box["y"] + box["height"]) + 6)


def save_page(page, out: Path, width: int, height: int) -> None:
    """Refuse a page that shows an exception, else save it down to its last chart."""
    errors = page.locator('[data-testid="stException"]')
    if errors.count():
        raise SystemExit(f"error: the page shows an exception: {errors.first.inner_text()[:300]}")
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out), clip={"x": 0, "y": 0, "width": width, "height": bottom_of_charts(page, height)})


def with_server(use) -> None:
    """Start a server (free port, temporary data folder), call use(url), stop it; on failure print its log's tail."""
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"error: no Chromium at {CHROMIUM}: install Debian's (apt install chromium) or set LAB_CHROMIUM")
    with tempfile.TemporaryDirectory(prefix="lab-screenshot-") as tmp:
        port = free_port()
        url = f"http://{HOST}:{port}"
        log = open(Path(tmp) / "server.log", "w")
        proc = start_server(Path(tmp), port, log)
        try:
            wait_healthy(proc, url)
            use(url)
        except BaseException:
            log.flush()
            sys.stderr.write((Path(tmp) / "server.log").read_text()[-3000:])
            raise
        finally:
            stop_server(proc)
            log.close()


def shoot(url: str, out: Path, train: bool, epochs: int, width: int, height: int) -> None:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
            page.set_default_timeout(60_000)
            page.goto(f"{url}/distill?{SETUP.format(epochs=epochs)}")
            page.get_by_role("heading", name=re.compile("Distill")).first.wait_for()
            settle(page)
            if train:
                page.get_by_role("button", name=re.compile("Train both students")).click()
                page.get_by_text(re.compile("Finished")).first.wait_for(timeout=600_000)
                page.get_by_text(re.compile("The distilled student")).first.wait_for(timeout=60_000)
                settle(page, min_charts=2)  # the two students' curves and the gain chart
            save_page(page, out, width, height)
        finally:
            browser.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "assets" / "screenshot-distill.png")
    ap.add_argument("--no-train", dest="train", action="store_false", help="the page before a run")
    ap.add_argument("--epochs", type=int, default=30, help="of each student (default 30: the measured default)")
    ap.add_argument("--width", type=int, default=1440)
    ap.add_argument("--height", type=int, default=1800, help="the viewport; the picture ends below the last chart")
    args = ap.parse_args(argv)
    with_server(lambda url: shoot(url, args.out, args.train, args.epochs, args.width, args.height))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
