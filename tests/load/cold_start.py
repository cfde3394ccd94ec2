"""The first visitor of a fresh server, in Chromium: how long until the page is painted.

    python tests/load/cold_start.py [--page concepts|dark_knowledge|distill] [--backend processes|threads]

It starts `streamlit run streamlit_app.py` on 127.0.0.1 (a free port, a temporary data folder),
waits until the health endpoint answers (the server is up: an instructor starts it before the
class), then opens the page in a headless Chromium and times it from navigation until the page's
title and the sidebar's "Student pairs trained" are both drawn (the whole script ran once). A
second visit of the same page in a new browser context shows the warm figure beside it. One
JSON object on stdout; loopback only.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as a script: make `load` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from load.run_load import ARGS, CHROMIUM  # noqa: E402
from load.server import Server, descendants, loadavg, proc_status  # noqa: E402

TITLES = {"concepts": "Concepts", "dark_knowledge": "Dark knowledge", "distill": "Distill"}


def visit(browser, url: str, title: str) -> float:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(180_000)
    began = time.monotonic()
    page.goto(url)
    page.get_by_role("heading", name=re.compile(title)).first.wait_for()
    page.get_by_text(re.compile("Student pairs trained")).first.wait_for()
    seconds = time.monotonic() - began
    context.close()
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--page", choices=tuple(TITLES), default="concepts")
    parser.add_argument("--backend", choices=("processes", "threads"), default="processes")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="lab-cold-") as tmp:
        server = Server({"LAB_DATA_DIR": f"{tmp}/data", "LAB_RUNS_DB": f"{tmp}/runs.sqlite3",
                         "LAB_BACKEND": args.backend, "LAB_RAY_ADDRESS": None}, Path(tmp) / "server.log")
        try:
            startup = server.wait_healthy()
            path = "" if args.page == "concepts" else args.page
            url = f"{server.url}/{path}?dataset=mnist-sample"
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                try:
                    cold = visit(browser, url, TITLES[args.page])
                    warm = visit(browser, url, TITLES[args.page])
                finally:
                    browser.close()
            rss = proc_status(server.pid).get("VmRSS", 0.0)
            workers = len(descendants(server.pid))
        finally:
            server.stop()
    print(json.dumps({"page": args.page, "backend": args.backend, "server_startup_s": round(startup, 2),
                      "cold_first_paint_s": round(cold, 2), "warm_first_paint_s": round(warm, 2),
                      "server_rss_mb": round(rss, 1), "child_processes": workers,
                      "loadavg_before": load_before, "loadavg_after": loadavg()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
