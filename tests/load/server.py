"""What both load tests share: a real `streamlit run streamlit_app.py` on 127.0.0.1 and a
monitor thread that polls its health endpoint and reads its memory, CPU and threads from /proc.

    server = Server({"LAB_DATA_DIR": tmp}, log_path=tmp / "server.log")
    server.wait_healthy()
    monitor = Monitor(server.url, server.pid); monitor.start() ... monitor.halt(); monitor.report()

Everything here talks to 127.0.0.1 only; the server runs in its own process group so that
stop() (and a watchdog) can end it with all its children.
"""
from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"  # the only address the load tests ever talk to


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def proc_status(pid: int) -> dict:
    """VmRSS, VmHWM (peak RSS) in MB and the thread count of a live process, from /proc."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
            elif key == "Threads":
                out[key] = int(value)
    except OSError:
        pass
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (its training workers, and theirs), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rindex(")") + 2:].split()[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def rss_pss(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of a process in MB. PSS shares each shared page among the processes that map it:
    the server and its workers map the same torch libraries, which RSS would count once each."""
    rss = pss = 0.0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, value = line.partition(":")
            if key == "Rss":
                rss = int(value.split()[0]) / 1024
            elif key == "Pss":
                pss = int(value.split()[0]) / 1024
    except OSError:
        pass
    return rss, pss


def loadavg() -> list[float]:
    """The machine's 1/5/15-minute load averages: what else was running while we measured."""
    return [round(x, 2) for x in os.getloadavg()]


class Server:
    """`streamlit run streamlit_app.py` on 127.0.0.1:<free port>, in its own process group.
    `env` adds to this process's environment; a value of None removes that variable. `cpus`
    (taskset's list, "0") pins the server, and the workers it starts, to those cores."""

    def __init__(self, env: dict, log_path: Path | None = None, port: int | None = None, cpus: str | None = None):
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log = open(log_path, "w") if log_path else subprocess.DEVNULL
        self.started = time.monotonic()
        # The product's defaults unless `env` says otherwise: no job backend inherited from a test run.
        full_env = {**os.environ, "LAB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "LAB_BACKEND": None, **env}
        pinned = ["taskset", "-c", cpus] if cpus else []  # e.g. "0": the server and its workers on one core
        self.proc = subprocess.Popen(
            [*pinned, sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", HOST, "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=ROOT, env={k: v for k, v in full_env.items() if v is not None},
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_healthy(self, timeout: float = 120) -> float:
        """Seconds from start until /_stcore/health answered "ok"."""
        while True:
            try:
                if health(self.url, 2) is not None:
                    return time.monotonic() - self.started
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {self.proc.returncode} before it was healthy")
            if time.monotonic() - self.started > timeout:
                raise RuntimeError(f"streamlit was not healthy within {timeout:.0f} s")
            time.sleep(0.2)

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except ProcessLookupError:
                pass
        if self.log is not subprocess.DEVNULL and not self.log.closed:
            self.log.close()


def health(url: str, timeout: float) -> float | None:
    """Seconds /_stcore/health took to answer "ok", or None for another answer."""
    start = time.monotonic()
    body = urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout).read()
    return time.monotonic() - start if body.strip() == b"ok" else None


class Monitor(threading.Thread):
    """Polls the health endpoint and the server's memory and threads until stopped."""

    def __init__(self, url: str, pid: int, every: float = 0.25, timeout: float = 10.0):
        super().__init__(name="load-monitor", daemon=True)
        self.url, self.pid, self.every, self.timeout = url, pid, every, timeout
        self.latencies: list[float] = []
        self.failures = 0
        self.rss: list[float] = []
        self.hwm = 0.0
        self.threads_max = 0
        self.tree_rss = self.tree_pss = 0.0  # peaks of the server + its worker processes (every second)
        self.processes_max = 1
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                latency = health(self.url, self.timeout)
                if latency is None:
                    self.failures += 1
                else:
                    self.latencies.append(latency)
            except OSError:
                self.failures += 1
                self.latencies.append(self.timeout)
            status = proc_status(self.pid)
            if status:
                self.rss.append(status.get("VmRSS", 0.0))
                self.hwm = max(self.hwm, status.get("VmHWM", 0.0))
                self.threads_max = max(self.threads_max, status.get("Threads", 0))
            if len(self.latencies) % max(1, round(1 / self.every)) == 0:
                self._tree()
            self._halt.wait(self.every)

    def _tree(self) -> None:
        pids = [self.pid, *descendants(self.pid)]
        sizes = [rss_pss(pid) for pid in pids]
        self.tree_rss = max(self.tree_rss, sum(r for r, _ in sizes))
        self.tree_pss = max(self.tree_pss, sum(p for _, p in sizes))
        self.processes_max = max(self.processes_max, len(pids))

    def halt(self) -> None:
        self._halt.set()
        self.join(self.timeout + 5)

    def report(self) -> dict:
        lat = sorted(self.latencies) or [0.0]
        return {"samples": len(self.latencies), "failures": self.failures,
                "worst_ms": round(lat[-1] * 1000, 1), "p95_ms": round(lat[int(0.95 * (len(lat) - 1))] * 1000, 1),
                "median_ms": round(statistics.median(lat) * 1000, 1)}
