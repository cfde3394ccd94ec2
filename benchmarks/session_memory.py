"""Server memory with many browsers' histories: N sessions, each trains P student pairs and runs
E experiments on a real `streamlit run` server, spoken to over Streamlit's own websocket protocol
(tests/load/st_client.py, no browser). Prints one JSON object: the server's RSS after each session
and at the end (VmRSS and peak VmHWM, from /proc), and how many jobs finished.

    python benchmarks/session_memory.py --sessions 30 --pairs 10 --experiments 2

Each session is one browser (its own `lab_id` cookie) that comes, works and leaves, one after the
other; what it leaves behind in the server is what the per-session memory caps bound. To keep 300
pairs affordable on two shared cores it trains on a small MNIST-format dataset written to a
temporary data folder (200 training / 100 test images, `dataset=mnist`), a 1-epoch student-mlp
pair each time, with the teacher trained once (the server's teacher cache serves every later
session). The experiment is the T × α sweep (its default grid), once with 2 seeds and once with 1.
Talks to 127.0.0.1 only; the server is stopped at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from conftest import write_mnist_folder  # noqa: E402
from load.server import Server, proc_status  # noqa: E402
from load.st_client import Tab  # noqa: E402
from streamlit.proto.WidgetStates_pb2 import WidgetState  # noqa: E402

QUERY = "dataset=mnist&student=student-mlp&T=4&alpha=0.9&epochs=1&seed={seed}"


async def _until(tab: Tab, since: float, needles: tuple[str, ...], timeout: float) -> str:
    """Wait until an element drawn after `since` contains one of `needles`; returns its text."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for at, _, text in reversed(tab.texts):
            if at < since:
                break
            if any(n in text for n in needles):
                return text
        await asyncio.sleep(0.5)
    raise TimeoutError(f"none of {needles} within {timeout:.0f} s")


async def _click(tab: Tab, label: str, extra: dict | None = None, timeout: float = 120) -> float:
    deadline = time.monotonic() + timeout
    while (tab.widget(label) is None or tab.widget(label).disabled) and time.monotonic() < deadline:
        await tab.rerun()  # e.g. the previous job is still closing
        await asyncio.sleep(1.0)
    button = tab.widget(label)
    assert button is not None and not button.disabled, (label, sorted(tab.widgets))
    clicked = time.monotonic()
    await tab.rerun(widgets={**(extra or {}), button.id: tab.trigger(button.id)})
    return clicked


async def one_session(url: str, seed: int, pairs: int, experiments: int, timeout: float) -> dict:
    tab = Tab(url, cookie=f"lab_id={secrets.token_hex(16)}")
    await tab.connect()
    done = {"pairs": 0, "experiments": 0}
    try:
        await tab.rerun(page="teacher", query=QUERY.format(seed=0))  # one teacher for all: the cache serves it
        since = await _click(tab, "Train teacher")
        await _until(tab, since, ("Finished **teacher", "already trained on this server"), timeout)
        await tab.rerun(page="distill", query=QUERY.format(seed=seed))
        for _ in range(pairs):
            since = await _click(tab, "Train both students")
            text = await _until(tab, since, ("Finished", "Stopped", "failed", "diverged"), timeout)
            done["pairs"] += "Finished" in text
            await tab.rerun()
        await tab.rerun(page="experiments")
        for k in range(experiments):
            seeds = tab.widget("Seeds")
            state = {seeds.id: WidgetState(id=seeds.id, int_value=2 - k % 2)} if seeds is not None else {}
            await tab.rerun(widgets=state)
            label = next(lab for lab in tab.widgets if lab.startswith("Run"))
            since = await _click(tab, label, state)
            text = await _until(tab, since, ("Finished", "Stopped", "cannot run", "failed"), timeout)
            done["experiments"] += "Finished" in text
    finally:
        await tab.close()
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--experiments", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600, help="seconds one job may take")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lab-memory-"))
    write_mnist_folder(tmp / "data" / "mnist", n_train=200, n_test=100)
    server = Server({"LAB_DATA_DIR": str(tmp / "data"), "LAB_RUNS_DB": str(tmp / "runs.sqlite3"),
                     "LAB_OFFLINE": "1"}, tmp / "server.log")
    report = {"sessions": args.sessions, "pairs_per_session": args.pairs, "experiments_per_session":
              args.experiments, "after_session": [], "pairs_finished": 0, "experiments_finished": 0}
    try:
        server.wait_healthy()
        report["rss_mb_started"] = proc_status(server.pid).get("VmRSS")
        for i in range(args.sessions):
            done = asyncio.run(one_session(server.url, i, args.pairs, args.experiments, args.timeout))
            report["pairs_finished"] += done["pairs"]
            report["experiments_finished"] += done["experiments"]
            status = proc_status(server.pid)
            report["after_session"].append({"session": i + 1, "rss_mb": status.get("VmRSS"), **done})
            print(json.dumps(report["after_session"][-1]), file=sys.stderr, flush=True)
        time.sleep(3)
        status = proc_status(server.pid)
        report.update(rss_mb_end=status.get("VmRSS"), peak_rss_mb=status.get("VmHWM"))
    finally:
        server.stop()
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
