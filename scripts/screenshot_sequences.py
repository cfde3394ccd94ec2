"""A screenshot of the Sequences page (issue 18) after one short run, through a real server and browser.

    flock /tmp/heavy.lock nice -n 5 python scripts/screenshot_sequences.py --steps 30 --out /tmp/sequences.png

Starts `streamlit run streamlit_app.py` (scripts/screenshot.py's server: 127.0.0.1, a free port, a temporary
data folder, offline), opens the Sequences page in headless Chromium, sets the steps per student, presses
Run, waits for the result tables and saves the page down to its last chart. The rest of the settings are
the page's short-run defaults (lab/seq/limits.py QUICK). Needs: pip install playwright; Debian's chromium.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshot import CHROMIUM, CHROMIUM_ARGS, ROOT, save_page, settle, with_server  # noqa: E402


def shoot(url: str, out: Path, steps: int, top_k: bool, width: int, height: int) -> None:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
            page.set_default_timeout(60_000)
            page.goto(f"{url}/sequences")
            page.get_by_role("heading", name=re.compile("Sequences")).first.wait_for()
            settle(page, min_charts=1)
            steps_box = page.get_by_role("spinbutton", name="Steps per student")
            steps_box.fill(str(steps))
            steps_box.press("Enter")
            settle(page)
            if top_k:
                box = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Top-k teachers")
                box.locator("input").click()
                page.get_by_role("option", name="1", exact=True).click()
                page.keyboard.press("Escape")
                settle(page)
            page.get_by_role("button", name=re.compile("^Run$")).click()
            page.get_by_text(re.compile("Finished")).first.wait_for(timeout=600_000)
            page.get_by_text(re.compile("On these [0-9,]+ test words")).first.wait_for(timeout=60_000)
            settle(page, min_charts=1)
            save_page(page, out, width, height)
        finally:
            browser.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "assets" / "screenshot-sequences.png")
    ap.add_argument("--steps", type=int, default=30, help="steps per student (default 30: a quick look)")
    ap.add_argument("--top-k", action="store_true", help="add the top-1 student")
    ap.add_argument("--width", type=int, default=1440)
    ap.add_argument("--height", type=int, default=3200, help="the viewport; the picture ends below the last chart")
    args = ap.parse_args(argv)
    with_server(lambda url: shoot(url, args.out, args.steps, args.top_k, args.width, args.height))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
