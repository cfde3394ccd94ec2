"""The class on one server, without browsers: N sessions speak Streamlit's websocket protocol.

    python tests/load/protocol_load.py --sessions 60 [--arrival-s 10] [--backend processes|threads|ray]

It starts `streamlit run streamlit_app.py` on 127.0.0.1 (a free port, a temporary data folder
and run history), visits it once (the cold first visitor: its time is reported, and the server
is warm afterwards), then lets N simulated students arrive evenly within --arrival-s. Each one
is a distinct browser (its own websocket and its own identity cookie) and does what a student
does in a lesson: open the Dark-knowledge page from a shared link, move the T slider a few
times, go to Distill, press "Train both students", and watch the job to its end. Their
browsers are not on this machine in a real class: a protocol client costs the server what a
browser costs it, and almost nothing on the client side, so the figures are the server's own.

The report (one JSON object): server-side first paint (connect -> first finished script run),
slider-rerun latency (and the part measured while a job trained), each job's queue wait and
time, health-endpoint latency, the server's peak RSS, CPU seconds and threads, and isolation:
each session sees only its own pair (its page says "Student pairs trained: 1", its result
carries its own T) and the run history attributes every run to exactly one session (by the
seed each session put in its link). Loopback only; every wait has a timeout and a watchdog
kills the server and exits if the run overruns. Exit 1 when a session got no first paint, a
job was lost (neither finished nor visibly queued or running at the end), isolation failed,
or a session broke; 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import signal
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

if not __package__:  # run as a script: make `load` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from load import profile  # noqa: E402
from load.server import Monitor, Server, cpu_seconds, descendants, loadavg, proc_status  # noqa: E402
from load.st_client import FINISHED_OK, Tab  # noqa: E402

MAX_SESSIONS = 500
# Each simulated browser is its own person: the app keeps a browser's identity in this cookie
# (a random 32-hex token; app_pages/_app/session.py), sent with the websocket handshake.
IDENTITY_COOKIE = "lab_id"
QUEUED = re.compile(r"Queued — position|Waiting for a free training slot")
RUNNING = re.compile(r"step [\d,]+ of|Training…|Measuring accuracy")
FINISHED = re.compile(r"Finished \*\*(?P<label>[^*]+)\*\*")
ENDED_BADLY = re.compile(r"Training diverged|Stopped\.|browser tab was closed|Cancelled\.")
PAIRS = re.compile(r"Student pairs trained: \*\*(\d+)\*\*")
LABEL_T = re.compile(r"T=([\d.]+)")
ETA = re.compile(r"starts in about (\d+):(\d\d)")


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of a non-empty list; None for an empty one."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def temperatures(index: int, moves: int) -> list[float]:
    """The T values session `index` moves the slider to; the last one is its own (kept for its job):
    neighbours differ, so a result carrying another session's T would show."""
    return [0.5 * (1 + (index * 7 + 11 * (moves - 1 - k)) % 40) for k in range(moves)]


def workers_cpu(pid: int) -> float:
    """CPU seconds used so far by the server's live child processes (its training workers)."""
    total = 0.0
    for child in descendants(pid):
        try:
            total += cpu_seconds(child)
        except OSError:  # it ended meanwhile
            pass
    return total


def left(deadline: float) -> float:
    """Seconds until the deadline: every step waits as long as the class may last (a slow server
    is measured, not given up on), and no longer."""
    return max(1.0, deadline - time.monotonic())


class Class:
    """What the sessions share: who is training now (for 'slider moved while a job trained')."""

    def __init__(self):
        self.training: set[int] = set()


async def student(index: int, url: str, start_at: float, deadline: float, args, room: Class) -> dict:
    """One session from arrival to its job's end (or the deadline)."""
    out = {"session": index, "first_delta_s": None, "first_paint_s": None, "slider_ms": [], "slider_training": [],
           "distill_ms": None, "clicked_at": None, "queued_seen": False, "running_seen": False,
           "finished_s": None, "status_end": "not started", "pairs_seen": None, "own_T": None, "result_T": None,
           "eta_s": None, "eta_seen_at": None, "started_at": None, "exceptions": [], "error": None}
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    tab = Tab(url, cookie=f"{IDENTITY_COOKIE}={uuid.uuid4().hex}")
    moves = temperatures(index, args.slider_moves)
    out["own_T"] = moves[-1] if moves else 4.0
    try:
        began = time.monotonic()
        await tab.connect(timeout=left(deadline))
        first = await tab.rerun(page="dark_knowledge", timeout=left(deadline),
                                query=f"dataset=mnist-sample&student=student-mlp&T=4&alpha=0.9"
                                      f"&epochs={args.epochs}&seed={index}")
        out["first_paint_s"] = round(time.monotonic() - began, 3)
        out["first_delta_s"] = None if first.first_delta_s is None else round(
            first.first_delta_s + (out["first_paint_s"] - first.seconds), 3)
        for value in moves:
            await asyncio.sleep(args.think_s)
            slider = tab.widget("Temperature T")
            if slider is None:
                raise LookupError("the Dark-knowledge page drew no 'Temperature T' slider")
            training = len(room.training)
            moved = await tab.rerun(widgets={slider.id: tab.slider_state(slider.id, value)}, timeout=left(deadline))
            out["slider_ms"].append(round(moved.seconds * 1000, 1))
            out["slider_training"].append(training)
        await asyncio.sleep(args.think_s)
        shown = await tab.rerun(page="distill", timeout=left(deadline))
        out["distill_ms"] = round(shown.seconds * 1000, 1)
        button = tab.widget("Train both students")
        if button is None or button.disabled:
            raise LookupError("the Distill page drew no enabled 'Train both students' button")
        seen_from = len(tab.texts)
        out["clicked_at"], out["status_end"] = time.time(), "clicked (no page since)"
        clicked = time.monotonic()
        await tab.rerun(widgets={button.id: tab.trigger(button.id)}, timeout=left(deadline))
        finished_at = await follow_job(tab, seen_from, out, deadline, room, index)
        if finished_at is not None:
            out["finished_s"] = round(finished_at - clicked, 2)
            out["pairs_seen"] = await pairs_after(tab, finished_at, deadline)
    except Exception as e:  # reported per session; the class goes on
        out["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    finally:
        room.training.discard(index)
        out["exceptions"] = tab.exceptions[:3]
        await tab.close()
    return out


async def follow_job(tab: Tab, seen_from: int, out: dict, deadline: float, room: Class, index: int) -> float | None:
    """Read what the page shows after the click (the job panel's fragment reruns keep it live)
    until the job ends; returns when it finished (monotonic), None otherwise."""
    while time.monotonic() < deadline:
        for at, kind, text in tab.texts[seen_from:]:
            seen_from += 1
            if QUEUED.search(text):
                out["queued_seen"], out["status_end"] = True, "queued"
                eta = ETA.search(text)
                if eta and out["eta_s"] is None:  # the first estimate this student was shown
                    out["eta_s"], out["eta_seen_at"] = int(eta[1]) * 60 + int(eta[2]), at
            elif RUNNING.search(text):
                out["running_seen"], out["status_end"] = True, "running"
                out["started_at"] = out["started_at"] or at
                room.training.add(index)
            elif kind == "alert-4" and FINISHED.search(text):
                found = LABEL_T.search(FINISHED.search(text)["label"])
                out["result_T"] = float(found[1]) if found else None
                out["status_end"] = "finished"
                room.training.discard(index)
                return at
            elif kind == "alert-1" or (kind.startswith("alert") and ENDED_BADLY.search(text)):
                out["status_end"] = "failed: " + text[:160]
                room.training.discard(index)
                return None
        if tab.closed_reason is not None:
            raise ConnectionError(f"the server closed the connection: {tab.closed_reason}")
        await asyncio.sleep(0.2)
    return None


async def pairs_after(tab: Tab, finished: float, until: float) -> int | None:
    """The sidebar's "Student pairs trained: N" in the full run that drew the finished job (the
    job panel reruns the whole page when its job ends; the sidebar is drawn before the panel)."""
    since = max((t for t in tab.run_starts if t <= finished), default=finished)
    while time.monotonic() < until:
        counts = [int(PAIRS.search(text)[1]) for at, _, text in tab.texts if at >= since and PAIRS.search(text)]
        if counts:
            return counts[-1]
        await asyncio.sleep(0.2)
    return None


async def cold_visit(url: str) -> dict:
    """The first visitor of a fresh server; it also warms both pages for the class."""
    tab = Tab(url, cookie=f"{IDENTITY_COOKIE}={uuid.uuid4().hex}")
    try:
        began = time.monotonic()
        await tab.connect()
        run = await tab.rerun(page="dark_knowledge", query="dataset=mnist-sample", timeout=180)
        paint = time.monotonic() - began
        distill = await tab.rerun(page="distill", timeout=120)
        return {"first_delta_s": None if run.first_delta_s is None else round(run.first_delta_s + paint - run.seconds, 2),
                "first_paint_s": round(paint, 2), "distill_s": round(distill.seconds, 2),
                "ok": run.status == FINISHED_OK and distill.status == FINISHED_OK, "exceptions": tab.exceptions[:3]}
    finally:
        await tab.close()


async def drive(url: str, args, deadline: float) -> list[dict]:
    room = Class()
    now = time.monotonic()
    spacing = args.arrival_s / args.sessions if args.sessions > 1 else 0.0
    tasks = [student(i, url, now + i * spacing, deadline, args, room) for i in range(args.sessions)]
    return await asyncio.wait_for(asyncio.gather(*tasks), timeout=max(1.0, deadline - now + 60))


def history_check(db: Path, sessions: list[dict]) -> dict:
    """The run history's side of isolation, and each job's queue wait and training time.

    Every session put its own seed in its link, so its two runs carry that seed: they must be
    recorded under one session identity that owns no other runs."""
    out = {"rows": 0, "problems": [], "queue_wait_s": {}, "train_s": {}}
    if not db.exists():
        out["problems"].append("no run history was written")
        return out
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT kind, status, json_extract(config, '$.seed'), session, started_at, finished_at "
                            "FROM runs WHERE kind IN ('hard', 'distilled')").fetchall()
    out["rows"] = len(rows)
    by_seed, by_identity = {}, {}
    for kind, status, seed, identity, started, finished in rows:
        by_seed.setdefault(seed, []).append((kind, status, identity, started, finished))
        by_identity.setdefault(identity, set()).add(seed)
    clicked = {s["session"]: s for s in sessions if s["clicked_at"] is not None}
    for seed, runs in by_seed.items():
        identities = {r[2] for r in runs}
        if seed not in clicked:
            out["problems"].append(f"runs with seed {seed}, which no session asked for")
        elif len(runs) > 2 or len(identities) != 1 or len(by_identity[runs[0][2]]) != 1:
            out["problems"].append(f"session {seed}: {len(runs)} runs under {len(identities)} identities")
        if seed in clicked:
            out["queue_wait_s"][seed] = round(min(r[3] for r in runs) - clicked[seed]["clicked_at"], 2)
            ends = [r[4] for r in runs if r[4] is not None]
            if len(ends) == len(runs):
                out["train_s"][seed] = round(max(ends) - min(r[3] for r in runs), 2)
    for s in clicked.values():
        if s["status_end"] == "finished" and s["session"] not in by_seed:
            out["problems"].append(f"session {s['session']} saw its job finish; the history has no run of it")
    return out


def server_log_errors(path: Path) -> dict:
    text = path.read_text(errors="replace") if path.exists() else ""
    lines = text.splitlines()
    tracebacks = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
    return {"tracebacks": len(tracebacks),
            "first": [lines[j] for j in range(tracebacks[0], min(len(lines), tracebacks[0] + 12))][-3:]
            if tracebacks else []}


def summary_s(values: list[float], digits: int = 2) -> dict:
    return {"n": len(values), "p50_s": rnd(percentile(values, 50), digits), "p95_s": rnd(percentile(values, 95), digits),
            "max_s": rnd(max(values, default=None), digits)}


def summary_ms(values: list[float]) -> dict:
    return {"n": len(values), "p50_ms": rnd(percentile(values, 50), 1), "p95_ms": rnd(percentile(values, 95), 1),
            "max_ms": rnd(max(values, default=None), 1)}


def rnd(x, digits):
    return None if x is None else round(x, digits)


def run(args) -> dict:
    """The whole load test; returns the report."""
    started = time.monotonic()
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="lab-protocol-load-") as tmp:
        tmp = Path(tmp)
        # Where the server trains: its warm worker processes (the default), its own threads, or Ray;
        # it inherits no Ray address unless --backend ray.
        server_env = {"LAB_DATA_DIR": str(tmp / "data"), "LAB_RUNS_DB": str(tmp / "runs.sqlite3"),
                      "LAB_BACKEND": args.backend if args.backend != "ray" else None,
                      "LAB_RAY_ADDRESS": args.ray_address if args.backend == "ray" else None}
        log = args.log or tmp / "server.log"
        server = Server(server_env, log_path=log, cpus=args.server_cpus)

        def overrun():  # the watchdog: whatever hangs, the server dies and this process exits
            server.stop(signal.SIGKILL)
            print(json.dumps({"ok": False, "error": f"watchdog: the run overran {args.timeout + 240:.0f} s"}))
            os._exit(3)
        watchdog = threading.Timer(args.timeout + 240, overrun)
        watchdog.daemon = True
        watchdog.start()
        profiler = None
        try:
            startup = server.wait_healthy()
            cold = asyncio.run(cold_visit(server.url))
            idle = proc_status(server.pid)
            cpu_before, client_before = cpu_seconds(server.pid), time.process_time()
            workers_before = workers_cpu(server.pid)
            monitor = Monitor(server.url, server.pid)
            monitor.start()
            if args.profile:
                profiler = profile.record(server.pid, args.profile)
            class_began = time.monotonic()
            deadline = class_began + args.timeout
            try:
                results = asyncio.run(drive(server.url, args, deadline))
            finally:
                monitor.halt()
                profile.stop(profiler)
            class_s = time.monotonic() - class_began
            alive = server.proc.poll() is None
            end = proc_status(server.pid)
            server_cpu = cpu_seconds(server.pid) - cpu_before if alive else None
            training_cpu = workers_cpu(server.pid) - workers_before if alive else None
            client_cpu = time.process_time() - client_before
            history = history_check(tmp / "runs.sqlite3", results)
        finally:
            server.stop()
            watchdog.cancel()
        log_errors = server_log_errors(log)
    out = report(args, results, history, monitor, cold, startup, idle, end, server_cpu, client_cpu, alive,
                 load_before, log_errors, time.monotonic() - started)
    out["class_s"] = round(class_s, 1)
    # How much of the machine the server got: on a machine shared with other work, well under its
    # core count (2 here) means the figures above measure the neighbours as much as the app.
    out["server_cores_used"] = None if server_cpu is None else round(server_cpu / class_s, 2)
    # the server's worker processes (training, with the processes backend), measured apart
    out["workers_cpu_s"] = None if training_cpu is None else round(training_cpu, 1)
    if args.profile:
        out["profile"] = profile.summarize(args.profile)
    return out


def report(args, results, history, monitor, cold, startup, idle, end, server_cpu, client_cpu, alive,
           load_before, log_errors, wall) -> dict:
    painted = [r["first_paint_s"] for r in results if r["first_paint_s"] is not None]
    slider = [ms for r in results for ms in r["slider_ms"]]
    slider_training = [ms for r in results for ms, n in zip(r["slider_ms"], r["slider_training"]) if n > 0]
    ends = [r["status_end"] for r in results]
    finished = [r for r in results if r["status_end"] == "finished"]
    # Crosstalk on the page: a count other than 1, or another session's T. A page that had not
    # redrawn its sidebar by the deadline (a saturated server) is reported, not failed: the run
    # history still proves whose runs are whose for every session.
    page_problems = [f"session {r['session']}: sees {r['pairs_seen']} pairs" for r in finished
                     if r["pairs_seen"] not in (1, None)]
    unconfirmed = [r["session"] for r in finished if r["pairs_seen"] is None]
    page_problems += [f"session {r['session']}: its result says T={r['result_T']}, it asked for T={r['own_T']}"
                      for r in finished if r["result_T"] != r["own_T"]]
    # Lost: clicked, and at the end neither finished nor shown waiting or training.
    lost = [r["session"] for r in results
            if r["clicked_at"] is not None and r["status_end"] not in ("finished", "queued", "running")]
    not_clicked = [r["session"] for r in results if r["clicked_at"] is None]
    waits = list(history["queue_wait_s"].values())
    # The queue's ETA against what happened: the first estimate each waiting student saw, and the
    # wait from that moment until its page first showed the job training.
    etas = [(r["eta_s"], r["started_at"] - r["eta_seen_at"]) for r in results
            if r["eta_s"] is not None and r["started_at"] is not None]
    eta_errors = [abs(shown - real) / real for shown, real in etas if real > 0]
    out = {
        "ok": None,
        "sessions": args.sessions,
        "arrival_s": args.arrival_s,
        "backend": args.backend,
        "server_cpus": args.server_cpus,
        "cpu_count": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        "cold": {"server_startup_s": round(startup, 2), **cold},
        "first_paint": {"ok": len(painted), **summary_s(painted)},
        "first_delta": summary_s([r["first_delta_s"] for r in results if r["first_delta_s"] is not None]),
        "slider_rerun": {**summary_ms(slider), "while_training": summary_ms(slider_training)},
        "distill_page": summary_ms([r["distill_ms"] for r in results if r["distill_ms"] is not None]),
        "jobs": {"clicked": sum(r["clicked_at"] is not None for r in results), "finished": len(finished),
                 "queued_seen": sum(r["queued_seen"] for r in results),
                 "running_seen": sum(r["running_seen"] for r in results),
                 "queued_at_end": ends.count("queued"), "running_at_end": ends.count("running"),
                 "lost": len(lost), "lost_sessions": lost[:20],
                 "not_clicked": len(not_clicked), "not_clicked_sessions": not_clicked[:20],
                 "click_to_finished": summary_s([r["finished_s"] for r in finished]),
                 "queue_wait": summary_s(waits), "train": summary_s(list(history["train_s"].values())),
                 "eta": {"n": len(eta_errors), "within_50pct": sum(e <= 0.5 for e in eta_errors),
                         "median_relative_error": rnd(percentile(eta_errors, 50), 2),
                         "p95_relative_error": rnd(percentile(eta_errors, 95), 2)}},
        "isolation_ok": not page_problems and not history["problems"],
        "isolation": {"page_problems": page_problems[:10], "history_problems": history["problems"][:10],
                      "page_count_not_redrawn_by_deadline": unconfirmed[:20],
                      "history_rows": history["rows"]},
        "health": monitor.report(),
        "peak_rss_mb": round(monitor.hwm, 1),
        # the server and its training workers together (sampled every second): RSS counts the torch
        # libraries they share once per process, PSS shares them out
        "peak_rss_with_workers_mb": round(monitor.tree_rss, 1),
        "peak_pss_with_workers_mb": round(monitor.tree_pss, 1),
        "processes_max": monitor.processes_max,
        "idle_rss_mb": round(idle.get("VmRSS", 0.0), 1),
        "end_rss_mb": round(end.get("VmRSS", 0.0), 1),
        "server_threads_max": monitor.threads_max,
        "server_cpu_s": None if server_cpu is None else round(server_cpu, 1),
        "client_cpu_s": round(client_cpu, 1),
        "server_alive_at_end": alive,
        "server_log": log_errors,
        "exceptions": [e for r in results for e in r["exceptions"]][:5],
        "session_errors": [f"{r['session']}: {r['error']}" for r in results if r["error"]][:10],
        "wall_s": round(wall, 1),
    }
    out["ok"] = bool(len(painted) == args.sessions and not lost and not not_clicked and out["isolation_ok"] and alive
                     and not out["exceptions"] and not out["session_errors"])
    if args.details:
        out["sessions_detail"] = results
    return out


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20, help=f"simulated students, 1..{MAX_SESSIONS} (default 20)")
    parser.add_argument("--arrival-s", type=float, default=10.0, help="they arrive evenly within this many seconds (10)")
    parser.add_argument("--backend", choices=("processes", "threads", "ray"), default="processes",
                        help="where the server trains (LAB_BACKEND): its warm worker processes (default), its own "
                             "threads, or Ray (LAB_RAY_ADDRESS)")
    parser.add_argument("--ray-address", default=os.environ.get("LAB_RAY_ADDRESS", "local"),
                        help="with --backend ray: the server's LAB_RAY_ADDRESS: local (a Ray started by the server), "
                             "auto (this machine's cluster) or ray://head:10001 (default: $LAB_RAY_ADDRESS or local)")
    parser.add_argument("--server-cpus", help="pin the server and its workers to these cores (taskset -c, e.g. 0); "
                                               "this client stays where it runs")
    parser.add_argument("--slider-moves", type=int, default=3, help="T slider moves per session (3)")
    parser.add_argument("--think-s", type=float, default=1.0, help="pause between a student's actions (1 s)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of each student pair (1)")
    parser.add_argument("--timeout", type=float, default=600, help="hard limit for the class, seconds (600)")
    parser.add_argument("--log", type=Path, help="keep the server's output here")
    parser.add_argument("--profile", type=Path, help="py-spy the server during the class: raw stacks to this file, a summary in the report")
    parser.add_argument("--details", action="store_true", help="include every session's record")
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= MAX_SESSIONS:
        parser.error(f"--sessions must be between 1 and {MAX_SESSIONS}")
    if args.arrival_s < 0 or args.think_s < 0 or args.slider_moves < 1 or not 1 <= args.epochs <= 50:
        parser.error("--arrival-s and --think-s must be >= 0, --slider-moves >= 1, --epochs 1..50")
    if args.backend == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            parser.error("--backend ray needs the `ray` package in this environment (pip install ray)")
    return args


def main(argv=None) -> int:
    report_ = run(parse_args(argv))
    print(json.dumps(report_, indent=2))
    return 0 if report_["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
