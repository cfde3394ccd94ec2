"""What the server holds in memory, counted: a debugging aid for the per-session memory caps.

Off unless LAB_MEMORY_PROBE names a file prefix. Then a daemon thread waits for `<prefix>.request`
to appear (e.g. `touch /tmp/probe.request` after each simulated session); it writes
`<prefix>.<n>.json` (live app objects, tensor bytes, Streamlit sessions, the commonest types and,
with LAB_MEMORY_PROBE_TRACE=1, tracemalloc's top lines and their growth since the previous dump)
and removes the request. A file, not a signal: start-up runs in a script thread, and only the main
thread may install a signal handler.

`live_objects()` is also what the tests count (models and tensors a session still holds).
"""
from __future__ import annotations

import collections
import ctypes
import gc
import json
import logging
import os
import threading
import time
import tracemalloc
from pathlib import Path

import torch
from streamlit.runtime import Runtime

from . import job as job_module
from . import session

log = logging.getLogger(__name__)
_previous: list = []   # the last tracemalloc snapshot (to diff against)


def tensor_bytes(tensors) -> int:
    """Bytes of the distinct storages behind these tensors (views and shared weights counted once)."""
    seen: dict[int, int] = {}
    for t in tensors:
        try:
            storage = t.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
        except (RuntimeError, AttributeError):  # meta / sparse tensors
            continue
    return sum(seen.values())


def live_objects() -> dict:
    """Counts of what the app keeps alive now: its jobs, runs, measured models, torch modules and
    tensors (CPU bytes), plotly figures, the session records and Streamlit's sessions."""
    gc.collect()
    counts: collections.Counter = collections.Counter()
    tensors, modules = [], 0
    for obj in gc.get_objects():
        kind = type(obj)
        if kind is job_module.Job:
            counts["app_jobs"] += 1
        elif kind is job_module.Run:
            counts["app_runs"] += 1
            counts["app_runs_with_model"] += obj.weights is not None
            counts["app_runs_with_logits"] += obj.test_logits is not None
        elif kind is job_module.Measured:
            counts["app_measured"] += 1
        elif isinstance(obj, torch.Tensor):
            tensors.append(obj)
        elif isinstance(obj, torch.nn.Module):
            modules += 1
        elif kind.__name__ == "Figure" and kind.__module__.startswith("plotly"):
            counts["plotly_figures"] += 1
    counts.update(torch_modules=modules, torch_tensors=len(tensors), session_records=len(session._records))
    out = dict(counts)
    out["tensor_mb"] = round(tensor_bytes(tensors) / 2**20, 2)
    out.update(_streamlit_sessions())
    return out


def _streamlit_sessions() -> dict:
    try:
        if not Runtime.exists():
            return {}
        manager = Runtime.instance()._session_mgr
        return {"streamlit_sessions": len(manager.list_sessions()),
                "streamlit_active_sessions": len(manager.list_active_sessions())}
    except Exception:  # a private API: a debugging aid must never break the server
        return {}


def rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def dump(path: Path, top: int = 40) -> dict:
    """One report as JSON at `path` (see the module's docstring)."""
    report = {"at": time.time(), "rss_mb": rss_mb(), "live": live_objects()}
    report["types"] = collections.Counter(type(o).__qualname__ for o in gc.get_objects()).most_common(top)
    if tracemalloc.is_tracing():
        snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        report["traced_mb"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 2)
        report["top_lines"] = [str(s) for s in snap.statistics("lineno")[:top]]
        if _previous:
            report["growth"] = [str(s) for s in snap.compare_to(_previous[0], "lineno")[:top]]
        _previous[:] = [snap]
    try:  # what glibc gives back when asked: RSS that drops here was free memory kept by malloc
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        report["rss_mb_after_trim"] = rss_mb()
    except OSError:
        pass
    path.write_text(json.dumps(report, indent=1, default=str))
    return report


def start_if_requested() -> None:
    prefix = os.environ.get("LAB_MEMORY_PROBE", "").strip()
    if not prefix:
        return
    if os.environ.get("LAB_MEMORY_PROBE_TRACE") == "1":
        tracemalloc.start(int(os.environ.get("LAB_MEMORY_PROBE_FRAMES", "1")))
    request = Path(prefix + ".request")

    def watch():
        n = 0
        while True:
            if request.exists():
                n += 1
                try:
                    dump(Path(f"{prefix}.{n}.json"))
                except Exception:
                    log.exception("memory probe %d failed", n)
                request.unlink(missing_ok=True)
            time.sleep(0.5)

    threading.Thread(target=watch, name="lab-memory-probe", daemon=True).start()
    log.info("memory probe on: touch %s for a report", request)
