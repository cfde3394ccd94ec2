"""What the server does once, before the first page: logging, the torch thread cap, warm-ups.

streamlit_app.py calls `start()` on every script run; only the first call does anything.
Importing the app's modules has no side effects of their own.
"""
from __future__ import annotations

import logging
import os
import threading

import torch

from lab.cores import available_cores
from lab.device import cap_threads

from .jobs import backend
from .memory_probe import start_if_requested

_done = threading.Event()
_lock = threading.Lock()
THREADS = 1  # torch's intra-op threads for training, set by start()


def start() -> None:
    """Once per server process: log to stderr, cap torch's threads, then (in the background, so the
    first visitor's page does not wait) start the training workers or warm this process's optimizer."""
    global THREADS
    if _done.is_set():
        return
    with _lock:
        if _done.is_set():
            return
        _logging()
        # Torch's intra-op pool is shared by every session of this process: leave one core to the
        # web server so a training job cannot starve it.
        THREADS = cap_threads(max(1, available_cores() - 1))  # the container's quota, not the host's cores
        threading.Thread(target=_warm, name="lab-warm-up", daemon=True).start()
        start_if_requested()  # LAB_MEMORY_PROBE: a debugging aid, off by default
        logging.getLogger(__name__).info("app started: %d training thread(s)", THREADS)
        _done.set()


def _warm() -> None:
    """The job backend, chosen and started now rather than at the first job: worker processes
    import torch and warm up at a low priority on their own. With threads, this process trains:
    its first optimizer imports torch._dynamo (seconds, ~150 MB; it was ~40 % of a cold first
    paint), done here so a job does not wait for it. A server whose jobs train elsewhere never
    imports it."""
    try:
        if backend().name == "threads":
            torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))])
    except Exception:  # the first job reports the same problem as a sentence on its page
        logging.getLogger(__name__).exception("the job backend could not start")


def _logging() -> None:
    """The app's and the lab's loggers write to stderr (the server log), with tracebacks.
    Streamlit configures only its own logger; ours would otherwise print bare messages."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    level = os.environ.get("LAB_LOG_LEVEL", "INFO").upper()
    for name in ("app_pages", "lab"):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if not logger.handlers and not logging.getLogger().handlers:  # (pytest's capture is a root handler)
            logger.addHandler(handler)
