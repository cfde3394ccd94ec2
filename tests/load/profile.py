"""Where the server's time goes while a load test runs: py-spy samples it, this sums the stacks.

    proc = record(server_pid, Path("server.stacks"))   # py-spy record ... --format raw (collapsed stacks)
    ...                                                # the load
    stop(proc); summarize(Path("server.stacks"))       # -> {"share": {...}, "top_script_runs": [...], ...}

py-spy counts a thread sleeping in Python code (a watcher's time.sleep, an idle pool worker) as
a sample, so stacks that end in a known wait are left out: what remains is work. Each working
sample is filed as training (a job thread), script runs (Streamlit running a page or fragment)
or the rest (the event loop: websockets, health, message serialization).
"""
from __future__ import annotations

import collections
import re
import signal
import subprocess
from pathlib import Path

IDLE = re.compile(r"(\bwait\b|sleep|select|_worker \(concurrent|PollingPathWatcher|Condition\.wait|"
                  r"Event\.wait|queue\.py|_wait_for_tstate_lock|epoll|accept)", re.I)
APP = ("app_pages/", "lab/", "streamlit_app.py", "plotly/", "pandas/", "torch/")


def record(pid: int, out: Path, rate: int = 50) -> subprocess.Popen | None:
    """Start `py-spy record` on `pid` (None if py-spy is missing: the load test runs without it)."""
    try:
        return subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
                                 "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return None


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


def summarize(path: Path, top: int = 8) -> dict:
    """Shares of the working samples by kind, and the heaviest app/lab frames in each (inclusive)."""
    if not path.exists():
        return {"error": "no profile was written (is py-spy allowed to attach?)"}
    kinds = collections.Counter()
    inclusive = {"training": collections.Counter(), "script_runs": collections.Counter()}
    idle = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames, n = stack.split(";"), int(count)
        if IDLE.search(frames[-1]):
            idle += n
            continue
        kind = ("training" if any("lab/serve/jobs.py" in f or "/_app/jobs.py" in f for f in frames)
                else "script_runs" if any("script_runner.py" in f for f in frames) else "server_other")
        kinds[kind] += n
        if kind in inclusive:
            for frame in {f for f in frames if any(a in f for a in APP)}:
                inclusive[kind][frame] += n
    work = sum(kinds.values()) or 1
    return {"working_samples": sum(kinds.values()), "idle_samples_dropped": idle,
            "share": {k: round(v / work, 3) for k, v in kinds.most_common()},
            **{f"top_{k}": [[frame, round(v / work, 3)] for frame, v in c.most_common(top)]
               for k, c in inclusive.items()}}
