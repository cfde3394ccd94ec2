"""The class, as the instructor page sees it: the instructor key, the name a student may choose,
and today's student pairs from the run history (lab.classroom turns them into the class view).

A student is their browser's history key (a hash, never shown) plus, if they want, a display name
typed in the sidebar: kept with their session (a reload keeps it) and written into the config of
every run they start, so the instructor's view can name their pairs. Nothing else identifies anyone.
"""
from __future__ import annotations

import hmac
import logging
import os
import threading

import streamlit as st

from lab import classroom
from lab import jobs as job_queue

from . import session
from .history import history_store

log = logging.getLogger(__name__)
KEY_ENV = "LAB_INSTRUCTOR_KEY"
KEY_SECRET = "instructor_key"
MAX_NAMES = 2000  # names of live students remembered in memory (the queue's "who")

_names: dict[str, str] = {}  # history key -> chosen name, for students whose first job still waits
_names_lock = threading.Lock()


# ---------------------------------------------------------------- the instructor key

def configured_key() -> str | None:
    """$LAB_INSTRUCTOR_KEY, else `instructor_key` in .streamlit/secrets.toml; None when neither is set."""
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV]
    try:
        value = st.secrets.get(KEY_SECRET)
    except Exception:  # no secrets.toml at all (the usual case) or an unreadable one: no key
        return None
    return str(value) if value else None


def unlocked() -> bool:
    """This browser has entered the key (kept with its session: a reload stays unlocked)."""
    return bool(session.record().prefs.get("instructor_unlocked"))


def unlock(typed: str) -> bool:
    key = configured_key()
    ok = key is not None and hmac.compare_digest(typed.encode(), key.encode())
    if ok:
        session.record().prefs["instructor_unlocked"] = True
    else:
        log.info("a wrong instructor key was entered")
    return ok


# ---------------------------------------------------------------- a student's chosen name

def display_name() -> str | None:
    """The name this browser chose, or None (anonymous)."""
    return session.record().prefs.get("display_name")


def _remember_name() -> None:
    name = classroom.clean_display_name(st.session_state.get("display_name_field"))
    rec = session.record()
    rec.prefs["display_name"] = name
    with _names_lock:
        _names.pop(rec.key, None)
        if name:
            _names[rec.key] = name
            while len(_names) > MAX_NAMES:
                _names.pop(next(iter(_names)))


def name_field() -> None:
    """The sidebar's optional name (what the instructor's view calls this student)."""
    ss = st.session_state
    if "display_name_field" not in ss:
        ss.display_name_field = display_name() or ""
    st.text_input("Your name (optional)", key="display_name_field", max_chars=classroom.MAX_NAME,
                  placeholder="anonymous", on_change=_remember_name,
                  help="Shown only on the instructor's class view, next to your runs. Leave it empty to stay "
                       "anonymous.")


# ---------------------------------------------------------------- the class today

def today_runs() -> list:
    """Today's finished student runs on this server (hard and distilled), without their curves."""
    store = history_store()
    if store is None:
        return []
    return store.list_runs(kinds=classroom.PAIR_KINDS, status="finished", since=classroom.start_of_today(),
                           curves=False)


def names(runs: list) -> dict[str, str]:
    """History key -> what to call that student: from their runs, and chosen names of students
    whose first job is still waiting in the queue."""
    with _names_lock:
        live = dict(_names)
    return {**classroom.display_names(runs), **live}


def queue(names_: dict[str, str]) -> list[dict]:
    return classroom.queue_rows(job_queue.shared_queue().snapshot(), names_)
