"""The class, as the instructor page sees it: the instructor key, the name a student may choose,
and today's student pairs from the run history (lab.serve.classroom turns them into the class view).

A student is their browser's history key (a hash, never shown) plus, if they want, a display name
typed in the sidebar: kept with their session (a reload keeps it) and written into the config of
every run they start, so the instructor's view can name their pairs. Nothing else identifies anyone.
"""
from __future__ import annotations

import collections
import hmac
import logging
import os
import threading
from dataclasses import dataclass

import streamlit as st

from lab import figures
from lab.serve import classroom
from lab.serve import jobs as job_queue

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

@dataclass(frozen=True)
class ClassView:
    """What the instructor page draws for one dataset and student (gains compare only there)."""
    choices: list              # (dataset, student) pairings seen today, the most common first
    pairs: list                # lab.serve.classroom.PairPoint, oldest first, of the chosen pairing
    cells: list                # the class sweep
    spread: dict
    figures: dict              # name -> plotly figure
    names: dict                # history key -> what to call that student


def _live_names() -> tuple:
    with _names_lock:
        return tuple(sorted(_names.items()))


def _signature(store) -> tuple:
    """Changes whenever a pair run finishes today (or is deleted): two indexed reads, no rows parsed."""
    newest = store.list_runs(kinds=classroom.PAIR_KINDS, status="finished", since=classroom.start_of_today(),
                             curves=False, limit=1)
    return (store.count_runs(kinds=classroom.PAIR_KINDS, status="finished", since=classroom.start_of_today()),
            newest[0].id if newest else None, classroom.start_of_today())


@st.cache_resource(max_entries=8, show_spinner=False)
def _view(path: str, signature: tuple, live: tuple, pick: tuple | None) -> ClassView:
    """Built once per change of the history (a new pair, a new name), shared by every refresh and
    every instructor: the figures are what a refresh would otherwise rebuild (plotly validation)."""
    store = history_store()
    runs = store.list_runs(kinds=classroom.PAIR_KINDS, status="finished", since=signature[-1], curves=False)
    names = {**classroom.display_names(runs), **dict(live)}
    pairs = classroom.class_pairs(runs, names)
    counts = collections.Counter((p.dataset or "?", p.student or "?") for p in pairs)
    choices = [c for c, _ in counts.most_common()]
    chosen = pick if pick in counts else (choices[0] if choices else None)
    pairs = [p for p in pairs if (p.dataset or "?", p.student or "?") == chosen]
    cells = classroom.class_grid(pairs)
    charts = {} if not pairs else {"sweep": figures.class_sweep_heatmap(cells),
                                   "pairs": figures.pairs_figure(pairs),
                                   "spread": figures.gain_spread_figure(pairs)}
    return ClassView(choices, pairs, cells, classroom.gain_spread(pairs), charts, names)


def class_view(pick: tuple | None = None) -> ClassView | None:
    """Today's finished pairs on this server, for one (dataset, student) — the most common one unless
    `pick` says which. None when the run history cannot be read."""
    store = history_store()
    if store is None:
        return None
    return _view(str(store.path), _signature(store), _live_names(), pick)


def queue(names_: dict[str, str]) -> list[dict]:
    """Who trains and who waits in this server's queue now (not cached: it changes every second)."""
    return classroom.queue_rows(job_queue.shared_queue().snapshot(), names_)
