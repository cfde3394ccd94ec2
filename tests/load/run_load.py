"""A bounded load test: many students on one server, in real browser tabs.

    python tests/load/run_load.py --sessions 20            # one JSON report on stdout

It starts `streamlit run streamlit_app.py` on 127.0.0.1 (a free port, a temporary data folder
and run history), opens N pages at once in one headless Chromium (one browser context each:
N separate Streamlit sessions), and in every page starts a short training run from the UI:
the Distill page's "Train both students" (student-mlp, 1 epoch, a different seed per session).
Meanwhile a thread polls /_stcore/health and reads the server's memory from /proc.

The report: every session's first paint, the health endpoint's worst latency while loaded, the
server's peak RSS (VmHWM), each job's fate (finished / seen waiting in the queue / failed /
unfinished), isolation (each session sees exactly its own one student pair, nobody else's), and
any exception shown on a page. It touches 127.0.0.1 only and stops by itself: every wait has a
timeout, and a watchdog kills the server and exits if the whole run overruns `--timeout`.

Exit code 0 when every check passed, 1 otherwise (the JSON says which).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

if not __package__:  # run as a script: make `load` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from load.server import HOST, ROOT, Monitor, Server, cpu_seconds, proc_status  # noqa: E402,F401

CHROMIUM = os.environ.get("LAB_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]

FINISHED = re.compile(r"Finished \*{0,2}student-mlp")
QUEUED = re.compile(r"Waiting for a free training slot|position \d+ in the queue|Queued", re.I)
RUNNING = re.compile(r"step \d+ of|Training…|Measuring accuracy")
FAILED = re.compile(r"Training diverged|Training failed|is not available|Out of memory")
PAIRS = re.compile(r"Student pairs trained:\s*(\d+)")


def descendants_cpu_seconds(root: int, skip: int) -> float:
    """CPU time of the live descendants of `root` (the browser), leaving out the tree of `skip` (the server)."""
    parent, cpu = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            parent[int(entry.name)] = int(fields[1])
            cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def under(pid, ancestor):
        while pid > 1:
            if pid == ancestor:
                return True
            pid = parent.get(pid, 0)
        return False
    return sum(c for pid, c in cpu.items() if pid != root and under(pid, root) and not under(pid, skip))


async def one_session(browser, url: str, index: int, epochs: int, deadline: float) -> dict:
    """Open the Distill page with a shared link, press "Train both students", watch the job."""
    out = {"session": index, "first_paint_s": None, "queued_seen": False, "running_seen": False,
           "finished_s": None, "failed": None, "pairs_seen": None, "exception": None, "error": None}
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(max(1_000, (deadline - time.monotonic()) * 1000))
    start = time.monotonic()
    try:
        await page.goto(f"{url}/distill?dataset=mnist-sample&student=student-mlp&T=4&alpha=0.9"
                        f"&epochs={epochs}&seed={index}")
        button = page.get_by_role("button", name=re.compile("Train both students"))
        await button.wait_for()
        out["first_paint_s"] = round(time.monotonic() - start, 2)
        await page.wait_for_function(
            "() => { const b = [...document.querySelectorAll('button')].find(b => /Train both students/.test(b.innerText));"
            " return b && !b.disabled; }")
        clicked = time.monotonic()
        await button.click()
        main = page.locator('[data-testid="stAppViewContainer"]')
        while time.monotonic() < deadline:
            text = await main.inner_text()
            out["queued_seen"] |= bool(QUEUED.search(text))
            out["running_seen"] |= bool(RUNNING.search(text))
            if await page.locator('[data-testid="stException"]').count():
                out["exception"] = (await page.locator('[data-testid="stException"]').first.inner_text())[:300]
                break
            failed = FAILED.search(text)
            if failed:
                out["failed"] = failed.group(0)
                break
            if FINISHED.search(text):
                out["finished_s"] = round(time.monotonic() - clicked, 2)
                break
            await asyncio.sleep(1.0)
        if out["finished_s"] is not None:
            # Isolation: this session's sidebar counts its own pair only (after the page settles).
            await page.wait_for_function(
                "() => /Student pairs trained:\\s*[1-9]/.test(document.body.innerText)", timeout=30_000)
            pairs = PAIRS.findall(await main.inner_text())
            out["pairs_seen"] = int(pairs[-1]) if pairs else None
    except Exception as e:  # reported per session; the run goes on
        out["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    finally:
        await context.close()
    return out


async def drive(url: str, sessions: int, epochs: int, deadline: float, stagger: float, server_pid: int,
                client: dict) -> list[dict]:
    from playwright.async_api import async_playwright
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            async def delayed(i):
                await asyncio.sleep(i * stagger)
                return await one_session(browser, url, i, epochs, deadline)
            return await asyncio.wait_for(asyncio.gather(*(delayed(i) for i in range(sessions))),
                                          timeout=max(1.0, deadline - time.monotonic() + 30))
        finally:
            client["browser_cpu_s"] = round(descendants_cpu_seconds(os.getpid(), server_pid), 1)
            await browser.close()


def history_check(db: Path) -> dict:
    """What the app recorded: runs by status, and how many runs each browser session owns
    (one student pair = 2 runs; more would mean runs were attributed to the wrong session)."""
    import sqlite3
    if not db.exists():
        return {}
    with sqlite3.connect(db) as conn:
        by_status = dict(conn.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall())
        per_session = [n for (n,) in conn.execute("SELECT COUNT(*) FROM runs GROUP BY session")]
    return {"runs_by_status": by_status, "sessions": len(per_session),
            "rows_per_session_max": max(per_session, default=0)}


def run(sessions: int = 20, epochs: int = 1, timeout: float = 900, stagger: float = 0.0,
        log_path: Path | None = None) -> dict:
    """The whole load test; returns the report (a dict)."""
    started = time.monotonic()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="lab-load-") as tmp:
        server = Server({"LAB_DATA_DIR": f"{tmp}/data", "LAB_RUNS_DB": f"{tmp}/runs.sqlite3"}, log_path)
        # The watchdog: whatever hangs, the server dies and this process exits.
        watchdog = threading.Timer(timeout + 90, lambda: (server.stop(signal.SIGKILL), os._exit(3)))
        watchdog.daemon = True
        watchdog.start()
        try:
            startup = server.wait_healthy()
            idle = proc_status(server.pid)
            cpu_before = cpu_seconds(server.pid)
            client = {}
            monitor = Monitor(server.url, server.pid)
            monitor.start()
            deadline = time.monotonic() + timeout
            try:
                results = asyncio.run(drive(server.url, sessions, epochs, deadline, stagger, server.pid, client))
            finally:
                monitor.halt()
            end = proc_status(server.pid)
            alive = server.proc.poll() is None
            server_cpu = cpu_seconds(server.pid) - cpu_before if alive else None
            history = history_check(Path(tmp) / "runs.sqlite3")
        finally:
            server.stop()
            watchdog.cancel()
    painted = [r["first_paint_s"] for r in results if r["first_paint_s"] is not None]
    finished = [r for r in results if r["finished_s"] is not None]
    pairs = [r["pairs_seen"] for r in finished]
    report = {
        "sessions": sessions,
        "epochs": epochs,
        "cpu_count": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "server_startup_s": round(startup, 1),
        "first_paint": {"ok": len(painted), "max_s": max(painted, default=None),
                        "median_s": round(statistics.median(painted), 2) if painted else None},
        "health": monitor.report(),
        "memory_mb": {"idle_rss": round(idle.get("VmRSS", 0), 1), "peak_rss": round(monitor.hwm, 1),
                      "end_rss": round(end.get("VmRSS", 0), 1)},
        "server_threads_max": monitor.threads_max,
        "server_cpu_s": None if server_cpu is None else round(server_cpu, 1),
        "browser_cpu_s": client.get("browser_cpu_s"),
        "history": history,
        "jobs": {"finished": len(finished), "queued_seen": sum(r["queued_seen"] for r in results),
                 "running_seen": sum(r["running_seen"] for r in results),
                 "failed": sum(r["failed"] is not None for r in results),
                 "unfinished": sum(r["finished_s"] is None and r["failed"] is None for r in results),
                 "never_seen_queued_or_running": sum(r["finished_s"] is None and not r["queued_seen"]
                                                     and not r["running_seen"] for r in results),
                 "max_s": max((r["finished_s"] for r in finished), default=None),
                 "median_s": round(statistics.median([r["finished_s"] for r in finished]), 1) if finished else None},
        "isolation_ok": len(pairs) == len(finished) and all(p == 1 for p in pairs),
        "exceptions": [r["exception"] for r in results if r["exception"]],
        "session_errors": [f"{r['session']}: {r['error']}" for r in results if r["error"]],
        "server_alive_at_end": alive,
        "wall_s": round(time.monotonic() - started, 1),
    }
    report["isolation_ok"] &= history.get("rows_per_session_max", 0) <= 2
    report["ok"] = (len(painted) == sessions and report["isolation_ok"] and alive
                    and not report["exceptions"] and not report["session_errors"]
                    and all(r["finished_s"] is not None or r["queued_seen"] or r["running_seen"] for r in results)
                    and report["jobs"]["failed"] == 0)
    report["sessions_detail"] = results
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20, help="concurrent browser sessions (default 20)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of each session's student pair (default 1)")
    parser.add_argument("--timeout", type=float, default=900, help="hard limit for the sessions, seconds (default 900)")
    parser.add_argument("--stagger", type=float, default=0.0, help="seconds between opening two sessions (default 0)")
    parser.add_argument("--log", type=Path, help="write the server's output here")
    parser.add_argument("--details", action="store_true", help="include every session's record in the JSON")
    args = parser.parse_args(argv)
    report = run(args.sessions, args.epochs, args.timeout, args.stagger, args.log)
    if not args.details:
        report.pop("sessions_detail")
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
