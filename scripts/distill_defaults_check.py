"""Issue 15's "done means": a fresh-clone Chromium click on Distill with the defaults, on seeds 0-4.

    d=$(mktemp -d); git clone -q /work/main $d/main; ln -s /work/shared $d/shared; cd $d/main
    flock /tmp/heavy.lock nice -n 5 python scripts/distill_defaults_check.py \
        --table /work/notes/distill_defaults_table.md --shots /work/notes/shots15

Starts `streamlit run streamlit_app.py` from this checkout on 127.0.0.1 (a free port; LAB_DATA_DIR
unset and an empty per-user cache folder, so the offline mnist-sample digits and the shipped
teacher in assets/ are what a new user gets, with nothing trained before; the run history goes to
a temporary file and the instructor key is set, so that the Instructor page can be opened). For every seed a new browser session (a new person) opens the
Distill page, changes nothing but the Seed box (seed 0 is the page's own default), presses
"Train both students" and reads what the page shows: the widgets' values, the caption with the
dataset's defaults, the finished job's label, how many epochs each curve holds, both accuracies,
the gain with its interval and verdict. A row "matches the caption" when the run used the caption's
settings (30 epochs, T = 4, α = 0.9), trained 30 epochs, and its verdict is what the caption
predicts: a gain, with one run's interval about ±1.2 points wide (so often "within noise").

Screenshots (whole pages at 1400 px): Distill after seed 0's run, then Compare, Experiments and the
unlocked Instructor page. Debian's /usr/bin/chromium (or $LAB_CHROMIUM) through playwright: never
`playwright install`. Talks to 127.0.0.1 only. Each pair takes about a minute on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshot import CHROMIUM, CHROMIUM_ARGS, HOST, ROOT, free_port, settle, stop_server, wait_healthy  # noqa: E402

CAPTION = {"epochs": 30, "T": 4.0, "alpha": 0.9}  # lab/lessons/dataset_defaults.py, mnist-sample
HALF_WIDTH = (0.8, 1.6)  # "one run's interval on 1,000 test images is about ±1.2 points"
NUMBER = r"([+\-−]?\d+(?:\.\d+)?)"


def start_server(tmp: Path, port: int, key: str, log):
    import subprocess
    env = {k: v for k, v in os.environ.items() if k not in ("LAB_DATA_DIR", "LAB_RUNS_DB", "LAB_INSTRUCTOR_KEY")}
    env.update({"PYTHONUNBUFFERED": "1", "LAB_RUNS_DB": str(tmp / "runs.sqlite3"), "LAB_INSTRUCTOR_KEY": key,
                "XDG_CACHE_HOME": str(tmp / "cache")})  # a new user's empty cache: nothing trained before
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", HOST, "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def whole_page(page, path: Path) -> None:
    """The whole page at 1400 px: Streamlit scrolls inside its main block, so grow the viewport to fit."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": int(min(max(height, 900), 6000))})
    page.wait_for_timeout(1000)  # plotly redraws at the new size
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": 1400, "height": 1000})


def slider_value(page, label: str) -> float:
    box = page.locator('[data-testid="stSlider"]').filter(has_text=label).first
    return float(box.locator('[data-testid="stSliderThumbValue"]').first.inner_text().strip())  # the thumb's number


def curve_epochs(page) -> dict:
    """Per student: how many test-accuracy points its curve holds (one per epoch) and its last step."""
    return page.evaluate("""() => {
        const out = {};
        for (const gd of document.querySelectorAll('.js-plotly-plot')) {
            for (const t of (gd.data || [])) {
                const m = /^(.*) test accuracy$/.exec(t.name || '');
                if (m) out[m[1].split(' ')[0]] = {points: t.x.length, last_step: t.x[t.x.length - 1]};  // 'hard (student-mlp)'
            }
        }
        return out;
    }""")


def metric(page, label: str) -> str:
    return page.locator('[data-testid="stMetric"]').filter(has_text=label).first.inner_text()


def percent(text: str) -> float | None:
    """The first percentage in a metric's text (its value; the delta is in points)."""
    found = re.search(r"(\d+(?:\.\d+)?)\s*%", text)
    return float(found.group(1)) if found else None


def to_float(text: str) -> float:
    return float(text.replace("−", "-"))


def one_seed(browser, url: str, seed: int, shots: Path | None) -> dict:
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(90_000)
    page.goto(f"{url}/distill")
    page.get_by_role("heading", name="Distill", exact=True).wait_for()
    settle(page)
    row = {"seed": seed, "defaults": page.get_by_text(re.compile("Defaults for ")).first.inner_text(),
           "teacher": page.get_by_text(re.compile("Teacher: .* test accuracy")).first.inner_text(),
           "widget_epochs": int(page.get_by_label("Epochs", exact=True).input_value()),
           "widget_T": slider_value(page, "Temperature"), "widget_alpha": slider_value(page, "α")}
    seed_box = page.get_by_label("Seed", exact=True)
    if int(seed_box.input_value()) != seed:
        seed_box.fill(str(seed))
        seed_box.press("Tab")  # not Enter
        settle(page)
    row["url"] = page.url
    page.get_by_role("button", name=re.compile("Train both students")).click()
    row["finished"] = page.get_by_text(re.compile("Finished ")).first.inner_text(timeout=1_200_000)
    page.locator(".verdict").first.wait_for()
    settle(page, min_charts=2)
    row["epochs_trained"] = curve_epochs(page)
    row["metrics_shown"] = [metric(page, "Student on labels"), metric(page, "Distilled student")]
    row["labels_acc"], row["distilled_acc"] = (percent(text) for text in row["metrics_shown"])
    row["verdict"] = page.locator(".verdict").first.inner_text()
    caption = page.get_by_text(re.compile("Distilled − labels on the same")).first.inner_text()
    row["caption"] = caption
    m = re.search(NUMBER + r" points \((\d+) % CI " + NUMBER + " to " + NUMBER + r"\), (within|beyond) noise", caption)
    row.update(gain=None, low=None, high=None, noise="?") if m is None else \
        row.update(gain=to_float(m.group(1)), low=to_float(m.group(3)), high=to_float(m.group(4)), noise=f"{m.group(5)} noise")
    p = re.search(r"p = ([0-9.e\-]+)", caption)
    row["mcnemar_p"] = float(p.group(1)) if p else None
    row["exceptions"] = page.locator('[data-testid="stException"]').count()
    if shots is not None:
        whole_page(page, shots / f"distill-seed{seed}.png")
    row["_page"] = page
    return row


def matches(row: dict) -> tuple[bool, str]:
    """The run used and trained the caption's settings, and its verdict is what the caption says."""
    if None in (row["gain"], row["labels_acc"], row["distilled_acc"]):
        return False, "the page's numbers could not be read (see the JSON lines)"
    why = []
    trained = {v["points"] for v in row["epochs_trained"].values()}
    if trained != {CAPTION["epochs"]} or row["widget_epochs"] != CAPTION["epochs"]:
        why.append(f"epochs {sorted(trained)} (widget {row['widget_epochs']})")
    if (row["widget_T"], row["widget_alpha"]) != (CAPTION["T"], CAPTION["alpha"]):
        why.append(f"T {row['widget_T']}, α {row['widget_alpha']}")
    if f"{CAPTION['epochs']} epochs" not in row["finished"]:
        why.append("the job's label names other epochs")
    half = (row["high"] - row["low"]) / 2
    if not HALF_WIDTH[0] <= half <= HALF_WIDTH[1]:
        why.append(f"interval ±{half:.2f}, not about ±1.2")
    if row["gain"] <= 0:
        why.append("no gain")
    beyond, low, high = row["noise"] == "beyond noise", row["low"], row["high"]  # shown rounded to 0.1 point
    if (beyond and low < 0 < high) or (not beyond and (low > 0 or high < 0)):
        why.append("verdict disagrees with its interval")
    if row["mcnemar_p"] is not None and (row["mcnemar_p"] < 0.05) != (row["noise"] == "beyond noise"):
        why.append("verdict disagrees with McNemar")
    if row["exceptions"]:
        why.append("the page shows an exception")
    return not why, "; ".join(why)


def num(value, spec: str) -> str:
    return "?" if value is None else format(value, spec)


def table(rows: list[dict], command: str, machine: str) -> str:
    lines = ["| seed | epochs trained (labels / distilled) | T | α | labels acc | distilled acc | gain (points) "
             "| 95 % interval | McNemar p | verdict shown | matches the caption |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        e = r["epochs_trained"]
        ok, why = matches(r)
        lines.append(f"| {r['seed']} | {e.get('hard', {}).get('points')} / {e.get('distilled', {}).get('points')} "
                     f"| {r['widget_T']:g} | {r['widget_alpha']:g} | {num(r['labels_acc'], '.2f')} % | {num(r['distilled_acc'], '.2f')} % "
                     f"| {num(r['gain'], '+.1f')} | {num(r['low'], '+.1f')} to {num(r['high'], '+.1f')} "
                     f"| {num(r['mcnemar_p'], '.2g')} | {r['noise']} "
                     f"| {'yes' if ok else 'no: ' + why} |")
    gains = [r["gain"] for r in rows if r["gain"] is not None] or [float("nan")]
    first = rows[0]
    return "\n".join([
        "# Distill with the defaults, a fresh clone, Chromium: seeds " + ", ".join(str(r["seed"]) for r in rows), "",
        f"Command: `{command}`", "", machine, "",
        f"Caption on the page: {first['defaults']}", "", f"Teacher caption: {first['teacher']}", "",
        f"Job label (seed {first['seed']}): {first['finished']}", "", *lines, "",
        f"Mean gain over these seeds: {sum(gains) / len(gains):+.2f} points (range {min(gains):+.1f} to "
        f"{max(gains):+.1f}); {sum(r['noise'] == 'beyond noise' for r in rows)} of {len(rows)} runs beyond noise.",
        "", "A row matches when the page trained 30 epochs at T = 4, α = 0.9 (the caption's settings), the gain "
        "is positive, the interval is about ±1.2 points wide (0.8-1.6) as the caption says, and the verdict "
        "agrees with its interval and with McNemar's p.", "",
        "Verdicts, as shown:", "", *[f"- seed {r['seed']}: {r['finished']} — {r['verdict']}" for r in rows], ""])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--table", type=Path, help="write the markdown table here")
    ap.add_argument("--shots", type=Path, help="save the screenshots (PNG) in this folder")
    ap.add_argument("--machine", default="", help="a line about the machine (load, CPU flags) for the table")
    args = ap.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"error: no Chromium at {CHROMIUM}: install Debian's (apt install chromium) or set LAB_CHROMIUM")
    from playwright.sync_api import sync_playwright
    key = secrets.token_hex(8)
    rows = []
    with tempfile.TemporaryDirectory(prefix="lab-defaults-check-") as tmp:
        port, log_path = free_port(), Path(tmp) / "server.log"
        url = f"http://{HOST}:{port}"
        log = open(log_path, "w")
        proc = start_server(Path(tmp), port, key, log)
        try:
            wait_healthy(proc, url)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                try:
                    for seed in args.seeds:
                        row = one_seed(browser, url, seed, args.shots if seed == args.seeds[0] else None)
                        page = row.pop("_page")
                        rows.append(row)
                        print(json.dumps(row, ensure_ascii=False), flush=True)
                        if args.shots is not None and seed == args.seeds[0]:
                            pictures(shots_of_pages, page, args.shots)
                        page.context.close()
                    if args.shots is not None:
                        pictures(instructor, browser, url, key, args.shots)
                finally:
                    browser.close()
        except BaseException:
            log.flush()
            sys.stderr.write(log_path.read_text()[-3000:])
            raise
        finally:
            stop_server(proc)
            log.close()
    command = "python scripts/distill_defaults_check.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = table(rows, command, args.machine)
    print(text)
    if args.table:
        args.table.write_text(text)
    return 0 if all(matches(r)[0] for r in rows) else 1


def pictures(take, *args) -> None:
    """A screenshot that fails is reported, not fatal: the seeds' table matters more."""
    try:
        take(*args)
    except Exception as error:  # noqa: BLE001 - playwright's timeouts and selector errors alike
        print(f"screenshot {take.__name__} failed: {error}", file=sys.stderr, flush=True)


def shots_of_pages(page, shots: Path) -> None:
    """Compare (the session's pair) and Experiments, in the session that just trained."""
    for path, title, name in (("compare", "Compare", "compare"), ("experiments", "Experiments", "experiments")):
        page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=re.compile(title)).click()
        page.get_by_role("heading", name=re.compile(title)).first.wait_for()
        settle(page)
        whole_page(page, shots / f"{name}.png")


def instructor(browser, url: str, key: str, shots: Path) -> None:
    """The unlocked Instructor page once every seed's pair has finished (they are today's pairs)."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(90_000)
    page.goto(f"{url}/instructor")
    page.get_by_label("Instructor key", exact=True).fill(key)
    page.get_by_role("button", name="Unlock").click()
    page.get_by_text(re.compile(r"Every pair \(\d+\)")).first.wait_for()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stMain\"] .js-plotly-plot').length >= 3")
    settle(page)
    whole_page(page, shots / "instructor.png")
    page.context.close()


if __name__ == "__main__":
    sys.exit(main())
