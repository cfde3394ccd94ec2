"""One browser, one person: a persistent identity, and what it has done, restored after a reload.

The identity is a random token in a cookie (`lab_id`), never in the link: two students opening
the same lesson link are two people; a reload, a second tab or a reconnect of the same browser is
the same one. The server keeps a SessionRecord per identity (its jobs, experiment results,
uploaded teachers, the teacher in use, instructor mode): every Streamlit session of that browser
shares it, so a running job keeps its live progress across a reload. After a server restart (or
when the record was dropped from memory) finished teachers and student pairs are rebuilt from the
run history, their models reloaded from app-runs/ on demand.

Memory stays bounded: the models of all but the last KEEP_MODELS pairs are dropped (reloaded from
their checkpoints when a page needs them), only KEEP_RESULTS experiment results stay in memory
(older ones reload from app-runs/run-<id>/result.json); a browser whose tabs are all gone keeps
no model, logits or result in memory (caps.py), and idle records are forgotten.
"""
from __future__ import annotations

import collections
import hashlib
import json
import logging
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from . import caps, records
from . import jobs as job_runner
from .history import history_store
from .settings import init_settings, set_value

log = logging.getLogger(__name__)
COOKIE = "lab_id"
COOKIE_DAYS = 180
KEEP_MODELS = int(os.environ.get("LAB_KEEP_MODELS", "5"))     # pairs / teachers with their models in memory
KEEP_RESULTS = int(os.environ.get("LAB_KEEP_RESULTS", "4"))   # experiment results in memory
KEEP_JOBS = 60          # jobs listed per browser (older ones stay in the History page)
MAX_RECORDS = 500       # browsers remembered in memory (a forgotten one is rebuilt from the history)
RESTORE_RUNS = 200      # newest finished runs read back for a browser after a restart
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class SessionRecord:
    key: str                                    # the browser's key in the run history (a hash of its token)
    jobs: list = field(default_factory=list)    # every Job of this browser, oldest first
    results: collections.OrderedDict = field(default_factory=collections.OrderedDict)  # experiment key -> result
    missing: set = field(default_factory=set)   # experiment keys known to have no saved result
    uploaded_teachers: dict = field(default_factory=dict)
    prefs: dict = field(default_factory=dict)   # teacher_choice, instructor
    seen: float = field(default_factory=time.monotonic)
    tabs: set = field(default_factory=set)      # Streamlit session ids of its tabs (to tell when all are gone)
    released: bool = False                      # its tabs are gone and its big objects left memory


_records: dict[str, SessionRecord] = {}
_records_lock = threading.Lock()


def session_key(token: str) -> str:
    """The history's `session` column: a hash, so reading the history never reveals a token."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def _cookie_token() -> str | None:
    try:
        token = st.context.cookies.get(COOKIE)
    except Exception:  # no browser connection (AppTest, bare mode): a new person every time
        return None
    return token if isinstance(token, str) and _TOKEN.match(token) else None


def streamlit_session_id() -> str | None:
    """This tab's Streamlit session (None outside a server: AppTest, scripts)."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None and Runtime.exists() else None


def init_session() -> None:
    """Once per Streamlit session: who this is, what it had, and the settings from the link."""
    ss = st.session_state
    if "initialized" in ss:
        return
    token = _cookie_token()
    ss.new_identity = token is None
    token = token or secrets.token_hex(16)
    ss.identity_token = token
    rec = _record_for(session_key(token))
    sid = streamlit_session_id()
    if sid is not None:
        with _records_lock:
            rec.tabs = {t for t in rec.tabs if job_runner.session_active(t)} | {sid}
    ss.session_key, ss.jobs, ss.uploaded_teachers, ss._record = rec.key, rec.jobs, rec.uploaded_teachers, rec
    init_settings(restored=rec.prefs)
    ss.announced = {j.key for j in rec.jobs if j.done}  # outcomes seen before the reload: no extra rerun
    ss.initialized = True


def write_cookie() -> None:
    """Remember this browser (a first visit only): the next reload or tab finds its session."""
    ss = st.session_state
    if ss.get("new_identity"):
        ss.new_identity = False
        st.html(f"<script>document.cookie = '{COOKIE}={ss.identity_token}; path=/; "
                f"max-age={COOKIE_DAYS * 86400}; SameSite=Lax';</script>", unsafe_allow_javascript=True)


def record() -> SessionRecord:
    ss = st.session_state
    rec = ss.get("_record")
    if rec is None:  # a page run before the entry point initialised (tests calling pages directly)
        init_session()
        rec = ss._record
    rec.seen = time.monotonic()
    rec.released = False
    return rec


def jobs() -> list:
    return record().jobs


def _record_for(key: str) -> SessionRecord:
    with _records_lock:
        rec = _records.get(key)
        if rec is None:
            rec = _records[key] = SessionRecord(key)
            _forget_idle()
            fresh = True
        else:
            fresh = False
    if fresh:
        _restore(rec)
    return rec


def _forget_idle() -> None:  # with the lock held
    if len(_records) <= MAX_RECORDS:
        return
    idle = sorted((r for r in _records.values() if all(j.done for j in r.jobs)), key=lambda r: r.seen)
    for rec in idle[:len(_records) - MAX_RECORDS]:
        del _records[rec.key]


def _restore(rec: SessionRecord) -> None:
    """Rebuild finished teachers and student pairs of this browser from the run history."""
    store = history_store()
    if store is None:
        return
    try:
        runs = store.list_runs(session=rec.key, status="finished", limit=RESTORE_RUNS)
    except Exception as e:  # a damaged history: nothing to restore, the app still works
        log.warning("cannot restore the runs of %s: %s", rec.key, e, exc_info=True)
        return
    groups: dict[str, list] = collections.defaultdict(list)
    for run in reversed(runs):  # oldest first
        if run.kind in ("teacher", "hard", "distilled") and run.checkpoint and run.group_id:
            groups[run.group_id].append(run)
    for group, members in groups.items():
        kinds = {r.kind: r for r in members}
        if set(kinds) not in ({"teacher"}, {"hard", "distilled"}):
            continue
        first = members[0]
        settings = {k: v for k, v in first.config.items() if k not in ("arch", "dataset", "role")}
        job = job_runner.Job(job_runner.next_id(), "teacher" if "teacher" in kinds else "distill",
                             (first.name or "").split(" · ", 1)[-1], first.dataset or "mnist-sample", settings,
                             teacher_key=settings.get("teacher_key"), owner=rec.key, store=store,
                             key=group[len(rec.key) + 1:], status="finished", harvested=True, closed=True)
        for run in members:
            job.runs[run.kind] = job_runner.Run(run.kind, run.arch, run.config, history=run.curves[-1:],
                                                status="finished", metrics=run.metrics, record_id=run.id,
                                                checkpoint=run.checkpoint)
        rec.jobs.append(job)
    if rec.jobs:
        log.info("restored %d job(s) of %s from the run history", len(rec.jobs), rec.key)


# ---------------------------------------------------------------- this browser's jobs and results

def latest_job(kind: str | None = None, name: str | None = None):
    found = [j for j in jobs() if (kind is None or j.kind == kind) and (name is None or j.name == name)]
    return found[-1] if found else None


def running_job(kind: str | None = None):
    return next((j for j in jobs() if not j.done and (kind is None or j.kind == kind)), None)


def touch() -> None:
    """Heartbeat: this tab is open and looking at its jobs."""
    sid = streamlit_session_id()
    for job in jobs():
        if not job.done:
            job.watch(sid)


def distill_jobs(dataset_name: str | None = None) -> list:
    name = dataset_name or st.session_state.dataset
    return [j for j in jobs() if j.kind == "distill" and j.dataset_name == name
            and j.runs["distilled"].metrics is not None]


def experiment_jobs(name: str | None = None) -> list:
    return [j for j in jobs() if j.kind == "experiment" and (name is None or j.name == name)]


def experiment_key(name: str, settings: dict, teacher_key: str | None = None) -> str:
    """Result key: the experiment, its settings, the dataset and the teacher in use."""
    return json.dumps({"experiment": name, "dataset": st.session_state.get("dataset"), "teacher": teacher_key,
                       "settings": settings}, sort_keys=True, default=str)


def experiment_result(key: str) -> dict | None:
    """This browser's finished result for this key: in memory, else reloaded from disk, else None."""
    rec = record()
    if key in rec.results:
        rec.results.move_to_end(key)
        return rec.results[key]
    if key in rec.missing:
        return None
    result = next((j.result for j in reversed(experiment_jobs()) if j.result_key == key
                   and j.status == "finished" and j.result is not None), None)
    if result is None:
        result = _saved_result(rec, key)
    if result is None:
        rec.missing.add(key)
        return None
    _keep_result(rec, key, result)
    return result


def _saved_result(rec: SessionRecord, key: str) -> dict | None:
    store = history_store()
    if store is None:
        return None
    wanted = json.loads(key)
    try:
        runs = store.list_runs(session=rec.key, kind=wanted.get("experiment"), status="finished", limit=50)
    except Exception as e:
        log.warning("cannot look up a saved result: %s", e, exc_info=True)
        return None
    run = next((r for r in runs if json.loads(json.dumps(r.config, sort_keys=True, default=str)) == wanted), None)
    return None if run is None else records.load_result(store, run)


def _keep_result(rec: SessionRecord, key: str, result: dict) -> None:
    rec.results[key] = result
    rec.results.move_to_end(key)
    while len(rec.results) > KEEP_RESULTS:
        rec.results.popitem(last=False)


def harvest() -> None:
    """After every run: a teacher job that ended well becomes the teacher in use (once), results
    move into the bounded results cache, and old jobs give back their memory."""
    ss = st.session_state
    rec = record()
    for job in rec.jobs:
        if job.done and not job.harvested:
            job.harvested = True
            if job.kind == "teacher" and job.runs["teacher"].metrics is not None \
                    and job.dataset_name == ss.get("dataset"):
                set_value("teacher_choice", job.key)
            if job.kind == "experiment" and job.status == "finished" and job.result is not None:
                rec.missing.discard(job.result_key)
                _keep_result(rec, job.result_key, job.result)
    caps.enforce(rec, KEEP_MODELS, KEEP_JOBS, keep_teacher=ss.get("teacher_choice"))
    caps.start_sweeper(_records, _records_lock)  # browsers whose tabs are all gone: released
    rec.prefs.update(teacher_choice=ss.get("teacher_choice"), instructor=bool(ss.get("instructor")))
