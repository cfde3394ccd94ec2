"""The app's only Streamlit glue: cached datasets and teachers, session state, the
experiment settings (synced with the URL), and the background training-job runner.

Pages import this module, call `lab/` and render. Nothing here trains or plots by itself:
a Job runs one of lab's training generators (`train_teacher`, `distill_pair_together`)
in a thread of lab.jobs' shared queue (at most N jobs train at once in this server; the
rest wait in a FIFO whose position each user sees) and keeps the events; `job_panel()` draws
them a few times a second. Every job is recorded in the run history (lab.runs), with its
models saved as checkpoints, so the History page can list, compare and export them.

Threads never touch `st.*`: a job writes only to its own Job object, which lives in the
session's `st.session_state`; the page (script thread) reads it.
"""
from __future__ import annotations

import copy
import itertools
import os
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import streamlit as st
import torch

import lab
from lab import checkpoints, figures, presets, teacher_cache
from lab import jobs as job_queue
from lab import runs as run_history
from lab.data import data_dir
from lab.device import cap_threads, pick_device
from lab.errors import LabError
from lab.metrics import predict_logits
from lab.models import STUDENTS, TEACHERS, count_params
from lab.recipes import (DEFAULT_ALPHA, DEFAULT_TEMPERATURE, STUDENT_CONFIG, TEACHER_CONFIG,
                         distill_pair_together, summarize, teacher_train_logits, train_teacher)

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
POLL_S = 0.4                 # how often a running job's panel refreshes
QUEUED_POLL_S = 2.0          # a job waiting in the queue changes rarely: with 20 students waiting,
                             # polling it fast would take the CPU from the job that trains
SIDEBAR_POLL_S = 1.0         # the sidebar's small progress bar (the page's panel is the live one)
HEARTBEAT_TIMEOUT_S = 180.0  # no poll for this long: nobody is watching (background tabs poll ~1/min)

# Torch's intra-op pool is shared by every session of this process: leave one core to the
# web server so a training job cannot starve it.
THREADS = cap_threads(max(1, (os.cpu_count() or 1) - 1))
# The first optimizer a process builds imports torch._dynamo (seconds). Do it once here, at
# server start, not inside a job thread where it competes with the page's polling.
torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))])
_ids = itertools.count(1)

# ---------------------------------------------------------------- settings (URL query params)

# What the Distill page's distilled student may learn from (lab.objectives, by name): logit KD,
# FitNets hints, attention transfer, the teacher's argmax as labels.
DISTILL_METHODS = {"kd": "soft targets (logit KD, Hinton 2015)", "hint": "hidden features (FitNets hint)",
                   "attention": "attention maps (Zagoruyko & Komodakis)",
                   "pseudo-labels": "the teacher's answers as labels (pseudo-labels)"}
SETTINGS = {  # key: (default, parse)
    "dataset": ("mnist-sample", lambda v: v if v in lab.DATASETS else None),
    "student": (lab.DEFAULT_STUDENT, lambda v: v if v in STUDENTS else None),
    "T": (DEFAULT_TEMPERATURE, lambda v: min(max(float(v), 0.5), 20.0)),
    "alpha": (DEFAULT_ALPHA, lambda v: min(max(float(v), 0.0), 1.0)),
    "epochs": (STUDENT_CONFIG.epochs, lambda v: min(max(int(v), 1), 50)),
    "seed": (0, lambda v: min(max(int(v), 0), 10_000)),
    "method": ("kd", lambda v: v if v in DISTILL_METHODS else None),
}
# Other values that outlive page switches (widgets bound to them with `bound()`).
DEFAULTS = {"device": "auto", "teacher_choice": "pretrained", "teacher_arch": lab.DEFAULT_TEACHER,
            "teacher_epochs": TEACHER_CONFIG.epochs, "teacher_lr": TEACHER_CONFIG.lr, "log_scale": False,
            "image_index": 0, "instructor": False}
# Advanced controls that instructor mode hides (the class sees the lesson, not the knobs).
ADVANCED = ("teacher_lr", "seed", "device")


def init_session() -> None:
    """Once per session: settings from the URL (a shared link opens the same experiment)."""
    ss = st.session_state
    if "initialized" not in ss:
        ss.initialized = True
        ss.jobs = []                     # every Job of this session, oldest first
        ss.session_key = run_history.new_session_id()  # this session's runs in the history
        ss.uploaded_teachers = {}        # key -> TeacherInfo of checkpoints uploaded on the Draw page
        history_store()                  # first session of the server: runs of a killed server -> incomplete
        query = st.query_params
        lesson = query.get("lesson")
        if lesson in presets.LESSONS:    # a lesson link: its setup, then whatever else the link says
            query = {**lesson_settings(presets.LESSONS[lesson]), **query.to_dict()}
            ss.lesson = lesson
        for key, (default, parse) in SETTINGS.items():
            value = default
            if key in query:
                try:
                    parsed = parse(query[key])
                    value = default if parsed is None else parsed
                except (TypeError, ValueError):
                    pass
            ss[key] = value
        for key, value in DEFAULTS.items():
            ss[key] = value
        if lesson in presets.LESSONS:
            for key, value in lesson_extras(presets.LESSONS[lesson]).items():
                ss[key] = value
        ss.instructor = query.get("instructor") in ("1", "true", "on")


def bound(widget, name: str, *args, in_form: bool = False, **kwargs):
    """Call a widget whose value lives in st.session_state[name] and survives page switches.

    Streamlit forgets a widget's state when a page without it runs; the value is kept under
    `name` (never a widget key) and the widget (key `w_<name>`) starts from it.
    """
    ss = st.session_state
    key = f"w_{name}"
    if in_form:  # widgets in a form take no callbacks: the form's page owns them
        if key not in ss:
            ss[key] = ss[name]
    else:
        # The same setting may be drawn on several pages (T): start from the kept value, and
        # copy every change back before the next run (callbacks run before the script).
        ss[key] = ss[name]
        kwargs["on_change"] = _copy_back
        kwargs["args"] = (name,)
    value = widget(*args, key=key, **kwargs)
    ss[name] = value
    return value


def _copy_back(name: str) -> None:
    st.session_state[name] = st.session_state[f"w_{name}"]


def set_value(name: str, value) -> None:
    """Change a bound setting from code (before its widget is drawn in this run)."""
    st.session_state[name] = value
    st.session_state[f"w_{name}"] = value


def sync_query_params() -> None:
    """Write the experiment back to the URL (only when it changed)."""
    wanted = share_params()
    if {k: st.query_params.get(k) for k in wanted} != wanted:
        st.query_params.from_dict(wanted)


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def share_params() -> dict[str, str]:
    """The URL query parameters of this session's setup (a lesson and instructor mode included)."""
    ss = st.session_state
    wanted = {k: _fmt(ss[k]) for k in SETTINGS}
    if ss.get("lesson"):
        wanted["lesson"] = ss.lesson
    if ss.get("instructor"):
        wanted["instructor"] = "1"
    return wanted


def settings() -> dict:
    return {k: st.session_state[k] for k in SETTINGS}


# ---------------------------------------------------------------- lessons (lab.presets)

LESSON_PAGES = {"soft-targets": "app_pages/dark_knowledge.py", "distill": "app_pages/distill.py",
                "compare": "app_pages/compare.py", "history": "app_pages/history.py", "draw": "app_pages/draw.py",
                "experiments": "app_pages/experiments.py"}


def lesson_settings(lesson: presets.Lesson) -> dict[str, str]:
    """A lesson's setup in the app's URL names (dataset, student, T, alpha, epochs, seed)."""
    s = lesson.settings
    return {"dataset": s["dataset"], "student": s["student"], "T": _fmt(float(s["temperature"])),
            "alpha": _fmt(float(s["alpha"])), "epochs": str(s["epochs"]), "seed": str(s["seed"])}


def lesson_extras(lesson: presets.Lesson) -> dict:
    """The rest of a lesson's setup: the teacher to train if you train your own; a lesson that hides
    a class (Lesson 3) is the Experiments page's omitted-class experiment, selected and filled in."""
    s = lesson.settings
    extras = {"teacher_arch": s["teacher"], "teacher_epochs": s["teacher_epochs"]}
    if s.get("hidden_class") is not None:
        extras.update(x_experiment="omit", x_omit_class=int(s["hidden_class"]), x_omit_student=s["student"],
                      x_omit_T=float(s["temperature"]), x_omit_epochs=int(s["epochs"]))
    return extras


def lesson_teacher_needed(lesson: presets.Lesson) -> bool:
    """True when a lesson needs its own teacher (Lesson 4: 1 epoch) and the one in use is not it."""
    s = lesson.settings
    if s["teacher_epochs"] == presets.DEFAULTS["teacher_epochs"]:
        return False
    info = teacher_info()
    job = next((j for j in st.session_state.get("jobs", []) if info is not None and j.key == info.key), None)
    return job is None or job.settings.get("epochs") != s["teacher_epochs"] or job.settings.get("arch") != s["teacher"]


def load_lesson(key: str) -> None:
    """One click: the lesson's whole setup into the bound settings (and so into the URL)."""
    lesson = presets.LESSONS[key]
    for name, raw in lesson_settings(lesson).items():
        set_value(name, SETTINGS[name][1](raw))
    for name, value in lesson_extras(lesson).items():
        set_value(name, value)
    st.session_state.lesson = key


def lesson_banner() -> None:
    """On an experiment page: the loaded lesson's question, as a reminder to predict first."""
    lesson = presets.LESSONS.get(st.session_state.get("lesson") or "")
    if lesson is not None:
        guess = st.session_state.get(f"predict_{lesson.key}")
        st.info(f"**{lesson.title}** — {lesson.question}" + (f"  \nYour prediction: **{guess}**" if guess else
                "  \nAnswer it on the Lessons page before you run."), icon=":material/play_lesson:")
        if lesson_teacher_needed(lesson):
            teacher_steps(lesson)


def teacher_steps(lesson: presets.Lesson) -> None:
    """What to click when a lesson needs its own teacher (the Teacher form is filled in)."""
    s = lesson.settings
    st.warning(f"**First train this lesson's teacher.** Open the **Teacher** page and press **Train teacher**: "
               f"architecture {s['teacher']} and **{s['teacher_epochs']} epoch"
               f"{'s' if s['teacher_epochs'] != 1 else ''}** are already filled in. When it finishes it becomes "
               "the teacher in use; then open the **Distill** page and press **Train both students**.", icon=":material/school:")
    st.page_link("app_pages/teacher.py", label="Go to the Teacher page", icon=":material/school:")


def instructor_mode() -> bool:
    """True when the sidebar's instructor mode hides the advanced controls."""
    return bool(st.session_state.get("instructor"))


# ---------------------------------------------------------------- run history (lab.runs)

def history_store() -> run_history.RunStore | None:
    """The run history ($LAB_RUNS_DB, else <data folder>/runs.sqlite3), opened once per server
    process (lab.runs.open_store caches it and marks runs of a dead process incomplete).
    None if it cannot be used: training still works, it is just not recorded."""
    try:
        return run_history.open_store()
    except LabError:
        return None


def history_problem() -> str | None:
    try:
        run_history.open_store()
    except LabError as e:
        return str(e)
    return None


def recorded_runs(store: run_history.RunStore, key: str) -> tuple[list, bool]:
    """The "Show everyone's runs" toggle (widget `key`) and the recorded runs it selects: this
    session's by default, every run on the server when switched on. ([], everyone) on failure."""
    everyone = st.toggle("Show everyone's runs", key=key,
                         help="Off: only the runs started in this browser session. On: every run on this server "
                              "(other students' and the command line's too).")
    try:
        return store.list_runs(session=None if everyone else st.session_state.session_key), everyone
    except LabError as e:
        st.error(str(e))
        return [], everyone


def run_labels(runs: list) -> dict[int, str]:
    """{run id: "run 7 · distilled · student-mlp · finished · 91.2%"} for pickers."""
    return {r.id: f"run {r.id} · {r.kind} · {r.arch or '?'} · {r.status}" +
            (f" · {r.metrics['test_accuracy']:.1%}" if isinstance(r.metrics.get("test_accuracy"), (int, float)) else "")
            for r in runs}


def compare_recorded(runs: list, key: str, labels: dict[int, str] | None = None) -> list:
    """Pick recorded runs (multiselect `key`) and compare them: one table of their numbers and
    their learning curves on one chart. Used by the History and the Compare pages. Returns the picked runs."""
    from lab.compare import comparison_row
    import pandas as pd
    labels = labels or run_labels(runs)
    picked = st.multiselect("Runs to compare", list(labels), format_func=labels.get, key=key,
                            max_selections=8, placeholder="Pick two or more runs")
    chosen = [r for r in runs if r.id in picked]
    if not chosen:
        return chosen
    compared = pd.DataFrame([comparison_row(f"run {r.id} · {r.kind} ({r.arch})", r.kind, r.metrics) for r in chosen])
    compared = compared.drop(columns=["role"])
    compared["bytes"] = compared["bytes"].map(fmt_bytes)
    st.dataframe(compared, hide_index=True, width="stretch", key=f"{key}_table", column_config={
        "test_accuracy": st.column_config.NumberColumn("test accuracy", format="percent"),
        "params": st.column_config.NumberColumn("parameters", format="localized"), "bytes": "size",
        "macs": st.column_config.NumberColumn("MACs / image", format="compact"),
        "latency_ms": st.column_config.NumberColumn("latency (ms)", format="%.3f"),
        "agreement": st.column_config.NumberColumn("agreement", format="percent"),
        "ece": st.column_config.NumberColumn("ECE", format="%.3f")})
    curves = {f"run {r.id} {r.kind}": [{"step": p.get("step", i), "loss": p.get("loss"),
                                        "train_accuracy": p.get("train_accuracy"),
                                        "test_accuracy": p.get("test_accuracy")}
                                       for i, p in enumerate(r.curves) if isinstance(p, dict)]
              for r in chosen}
    if any(curves.values()):
        st.plotly_chart(figures.training_curves(curves), width="stretch", key=f"{key}_curves")
    return chosen


def checkpoint_root(store: run_history.RunStore | None = None) -> Path:
    """Where finished app runs save their models: beside the history file that points to them."""
    return (store.path.parent if store is not None else data_dir()) / "app-runs"


# ---------------------------------------------------------------- shared, read-only resources

@st.cache_resource(show_spinner="Loading the dataset…")
def _load_dataset(name: str) -> lab.Dataset:
    return lab.load(name)


def dataset(name: str | None = None, stop_on_error: bool = True) -> lab.Dataset | None:
    """The chosen dataset (cached for every session); on failure a clear message, no traceback."""
    name = name or st.session_state.get("dataset", "mnist-sample")
    try:
        return _load_dataset(name)
    except LabError as e:
        st.error(f"**{name} is not available.** {e}")
        if stop_on_error:
            st.info("Pick **mnist-sample** in the sidebar: it ships with the lab and always works offline.")
            st.stop()
        return None


def pretrained_dir(dataset_name: str) -> Path:
    return ASSETS / f"teacher-{dataset_name}"


@st.cache_resource(show_spinner="Loading the pretrained teacher…")
def _pretrained(dataset_name: str):
    """(model, card, test logits) of the shipped teacher, shared read-only by every session."""
    folder = pretrained_dir(dataset_name)
    if not (folder / checkpoints.CARD).is_file():
        return None
    model, card = checkpoints.load(folder)
    data = _load_dataset(dataset_name)
    logits = predict_logits(model, data.test_images, data.mean, data.std)
    return model, card, logits


# ---------------------------------------------------------------- training jobs

@dataclass
class Run:
    """One model inside a job: its live history, then its model and measured metrics."""
    name: str                       # "teacher" | "hard" | "distilled"
    arch: str
    history: list = field(default_factory=list)
    last: object = None             # the latest lab Event
    status: str = "waiting"         # waiting | running | finished | stopped | diverged
    model: torch.nn.Module | None = None
    metrics: dict | None = None     # recipes.summarize() once measured
    test_logits: torch.Tensor | None = None
    message: str = ""
    record_id: int | None = None    # its row in the run history
    checkpoint: str | None = None   # folder of its saved model, once finished


@dataclass
class Job:
    id: int
    kind: str                       # "teacher" | "distill"
    dataset_name: str
    settings: dict
    runs: dict
    label: str
    stop: threading.Event = field(default_factory=threading.Event)
    status: str = "queued"          # queued | running | measuring | finished | stopped | diverged | error | abandoned | cancelled
    message: str = ""
    started: float = field(default_factory=time.monotonic)
    heartbeat: float = field(default_factory=time.monotonic)
    session_id: str | None = None
    teacher_key: str | None = None
    thread: threading.Thread | None = None
    announced: bool = False         # the page has re-rendered once after the job ended
    owner: str | None = None        # the session's key in the run history
    store: object = None            # the RunStore it is recorded in (None: not recorded)
    queued: job_queue.Job | None = None  # its place in the shared queue
    cached_s: float | None = None   # a teacher found in the server's cache: seconds it took to load

    @property
    def done(self) -> bool:
        return self.status in ("finished", "stopped", "diverged", "error", "abandoned", "cancelled")

    @property
    def position(self) -> int:
        """Place in the shared queue: 1 = next to start; 0 = not waiting."""
        return self.queued.position if self.queued is not None and self.status == "queued" else 0

    def cancel(self) -> None:
        """Queued: leave the queue (it never runs). Running: stop within one step."""
        self.stop.set()
        if self.queued is not None and self.queued.cancel() and self.queued.state == "cancelled":
            self.status, self.message = "cancelled", "Cancelled while waiting in the queue."

    @property
    def key(self) -> str:
        return f"job{self.id}"

    def progress(self) -> tuple[int, int, float, float | None]:
        """(steps done, total steps, images/s, ETA seconds) over all runs of the job."""
        events = [r.last for r in self.runs.values() if r.last is not None]
        if not events:
            return 0, 0, 0.0, None
        done = sum(e.step for e in events)
        total = sum(e.total_steps for e in events) if len(events) == len(self.runs) else \
            events[0].total_steps * len(self.runs)
        rate = sum(e.images_per_s or 0 for e in events if not e.done)
        elapsed = time.monotonic() - self.started
        eta = elapsed / done * (total - done) if done and not self.done else None
        return done, total, rate, eta


def _session_id() -> str | None:
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None and Runtime.exists() else None


def _tab_closed(session_id: str | None) -> bool:
    """True once the browser session that started a job is gone (closed, reloaded, lost).
    No session id (AppTest, scripts): no server runtime, the caller owns the job."""
    if session_id is None:
        return False
    from streamlit.runtime import Runtime
    return Runtime.exists() and not Runtime.instance().is_active_session(session_id)


def _nobody_watching(job: Job) -> bool:
    """The tab is gone, or it has not polled for HEARTBEAT_TIMEOUT_S."""
    if job.session_id is None:
        return False
    return _tab_closed(job.session_id) or time.monotonic() - job.heartbeat > HEARTBEAT_TIMEOUT_S


def _should_stop(job: Job) -> bool:
    if job.stop.is_set():
        return True
    if _nobody_watching(job):
        job.status = "abandoned"
        job.stop.set()
        return True
    return False


def _work(job: Job, make_events, data: lab.Dataset, teacher_for_metrics=None) -> None:
    """The job thread (the shared queue started it): record the runs, drain lab's events into
    the Job, measure and save the models, then close the runs' history rows."""
    try:
        _pending.pop(job.id, None)
        job.status = "running"
        job.started = time.monotonic()
        for run in job.runs.values():
            _record_start(job, run, data)
        for name, event in make_events(data, lambda: _should_stop(job)):
            run = job.runs[name]
            run.last = event
            run.status = event.kind if event.done else "running"
            if event.kind in ("step", "epoch"):
                if event.kind == "epoch" and run.history:
                    run.history[-1] = {**run.history[-1], "test_accuracy": event.test_accuracy}
                    _record(job, "update_run", run.record_id, curves=run.history,
                            metrics={"test_accuracy": event.test_accuracy})
                else:
                    run.history.append({"step": event.step, "epoch": event.epoch, "loss": event.loss,
                                        "train_accuracy": event.train_accuracy,
                                        "test_accuracy": None})
            if event.done:
                run.model, run.message = event.result.model, event.message
        if job.status == "abandoned":
            return
        diverged = [r for r in job.runs.values() if r.status == "diverged"]
        if diverged:
            job.status, job.message = "diverged", diverged[0].message
        elif job.stop.is_set():
            job.status = "stopped"
            job.message = next((r.message for r in job.runs.values() if r.status == "stopped"), "Stopped.")
        job.status = job.status if job.status in ("diverged", "stopped") else "measuring"
        # Measure every finished model: accuracy, agreement, calibration, size, latency.
        teacher = teacher_for_metrics
        for run in job.runs.values():
            if run.status != "finished" or run.model is None:
                continue
            run.model = run.model.cpu().eval()
            if run.metrics is None:  # (a cached teacher, or one measured to be cached, already has them)
                run.metrics = summarize(run.model, data, run.last.result.metrics,
                                        teacher=None if teacher is None else teacher.cpu())
            run.test_logits = predict_logits(run.model, data.test_images, data.mean, data.std)
            if run.checkpoint is None:  # (a cached teacher's checkpoint is its cache entry)
                _save_checkpoint(job, run, data)
        if job.status == "measuring":
            job.status = "finished"
    except torch.OutOfMemoryError:
        job.status, job.message = "error", ("Out of memory. Choose a smaller model or batch, or train on the CPU "
                                            "(sidebar → device).")
    except LabError as e:
        job.status, job.message = "error", str(e)
    except Exception as e:  # a message on the page, never a traceback
        job.status, job.message = "error", f"Training failed: {type(e).__name__}: {e}"
    finally:
        for run in job.runs.values():
            if run.status in ("waiting", "running"):
                run.status = "stopped"
            _record_finish(job, run)


def _record(job: "Job | ExperimentJob", method: str, *args, **kwargs):
    """One write to the run history (a training or an experiment job); a history that fails never
    fails the job, it only says so in the job's message."""
    if job.store is None or (method != "start_run" and args[0] is None):
        return None
    try:
        return getattr(job.store, method)(*args, **kwargs)
    except LabError as e:
        job.message = (job.message + " " if job.message else "") + f"(Not recorded in the history: {e})"
        return None


def _record_start(job: Job, run: Run, data: lab.Dataset) -> None:
    config = {**job.settings, "arch": run.arch, "dataset": job.dataset_name, "role": run.name}
    run.record_id = _record(job, "start_run", run.name, config, dataset=job.dataset_name, arch=run.arch,
                            name=f"{run.name} · {job.label}", group_id=f"{job.owner}-{job.key}",
                            session=job.owner, owner=job.owner)


def _record_finish(job: Job, run: Run) -> None:
    if run.record_id is None:
        return
    if job.status == "error" or run.status == "diverged":
        status = "failed"
    elif run.status == "finished":
        status = "finished"  # this model trained to the end (its partner may have been stopped)
    else:
        status = "stopped"   # Stop, a closed tab
    metrics = dict(run.metrics or {})
    if not metrics and run.last is not None and run.last.result is not None:
        metrics = dict(run.last.result.metrics or {})
    _record(job, "finish_run", run.record_id, status, metrics=metrics, curves=run.history,
            checkpoint=run.checkpoint, message=run.message or job.message or None)


def _save_checkpoint(job: Job, run: Run, data: lab.Dataset) -> None:
    """A finished model as safetensors + card (what the History page exports); optional."""
    if job.store is None or run.record_id is None:
        return
    folder = checkpoint_root(job.store) / f"run-{run.record_id}"
    try:
        card = checkpoints.make_card(run.model, data, run.metrics, role=run.name, config=job.settings,
                                     run_id=run.record_id, label=job.label)
        checkpoints.save(folder, run.model, card)
        run.checkpoint = str(folder)
    except (OSError, LabError) as e:
        run.message = (run.message + " " if run.message else "") + f"(The model could not be saved: {e})"


def _start(job: Job, make_events, teacher_for_metrics=None) -> Job:
    """Put the job in the shared queue: it starts now if a slot is free, else when one frees."""
    ss = st.session_state
    job.session_id = _session_id()
    job.owner = ss.get("session_key")
    job.store = history_store()
    data = dataset(job.dataset_name)
    try:
        job.queued = job_queue.shared_queue().submit(
            lambda _stop: _work(job, make_events, data, teacher_for_metrics), label=job.label, owner=job.owner)
    except LabError as e:  # this session already has jobs waiting
        job.status, job.message = "error", str(e)
        ss.jobs.append(job)
        return job
    job.queued.stop = job.stop  # one stop flag: the queue's cancel() and the page's Stop set the same event
    job.thread = _QueueThread(job.queued)
    if job.status == "queued":
        _pending[job.id] = job
    ss.jobs.append(job)
    return job


class _QueueThread:
    """The job's thread as the page and the tests see it (join / is_alive), whether it is
    still waiting in the queue or already running."""

    def __init__(self, queued: job_queue.Job):
        self.queued = queued

    def join(self, timeout: float | None = None) -> None:
        self.queued.wait(timeout)

    def is_alive(self) -> bool:
        return not self.queued.done


def reap_queue() -> None:
    """Queued jobs of closed tabs leave the queue (they would only start to stop at once)."""
    for job in list(_pending.values()):
        if job.status != "queued" or job.queued is None or job.queued.done:
            _pending.pop(job.id, None)
        elif _nobody_watching(job) and job.queued.cancel() and job.queued.state == "cancelled":
            job.status, job.message = "abandoned", "Its browser tab was closed while it waited."
            _pending.pop(job.id, None)


_pending: dict[int, Job] = {}  # app Jobs waiting in the shared queue (until they start or end)


@st.cache_resource(max_entries=16, show_spinner=False)
def _cached_teacher(folder: str, mtime: float, dataset_name: str):
    """(model, card, test logits) of a teacher in the server's cache, loaded once per server
    process and shared read-only by every session (jobs copy a teacher before moving it)."""
    found = checkpoints.load(folder)
    model, card = found
    data = _load_dataset(dataset_name)
    return model, card, predict_logits(model, data.test_images, data.mean, data.std)


def _from_cache(data: lab.Dataset, arch: str, config) -> tuple | None:
    """The cached teacher for this configuration (model, card, logits), or None. Never trains."""
    folder = teacher_cache.cache_folder(data, arch, config)
    weights = folder / checkpoints.WEIGHTS
    if not (folder / checkpoints.CARD).is_file() or not weights.is_file():
        return None
    try:
        return _cached_teacher(str(folder), weights.stat().st_mtime, data.name)
    except (LabError, OSError):
        return None  # a damaged entry: trained again (and overwritten)


def start_teacher_job(arch: str, epochs: int, lr: float, seed: int) -> Job:
    """Train a teacher — unless this server already trained the same configuration: then the
    cached one is loaded at once (no queue, no training). Two sessions asking at the same
    time: the second waits for the first (teacher_cache's lock) and then loads its teacher."""
    ss = st.session_state
    config = replace(TEACHER_CONFIG, epochs=int(epochs), lr=float(lr), seed=int(seed), device=ss.device)
    job = Job(next(_ids), "teacher", ss.dataset, {"arch": arch, **config.as_dict()},
              {"teacher": Run("teacher", arch)}, f"{arch} · {epochs} epoch{'s' if epochs != 1 else ''}")
    data = dataset(job.dataset_name)
    began = time.perf_counter()
    found = _from_cache(data, arch, config)
    if found is not None:
        return _start_cached(job, data, teacher_cache.cache_folder(data, arch, config), *found,
                             seconds=time.perf_counter() - began)
    run = job.runs["teacher"]

    def events(data, stop):
        with teacher_cache.exclusive(data, arch, config):  # waits while another session trains it
            began = time.perf_counter()
            cached = teacher_cache.lookup(data, arch, config)
            if cached is not None:                          # ... and then loads it
                logits = predict_logits(cached[0], data.test_images, data.mean, data.std)
                job.cached_s = time.perf_counter() - began
                _use_cached(run, *cached, logits, job.cached_s)
                run.checkpoint = str(teacher_cache.cache_folder(data, arch, config))
                yield "teacher", run.last
                return
            for event in train_teacher(data, arch, config, stop):
                if event.kind == "finished":  # measure and share it before the lock is released
                    model = event.result.model.cpu().eval()
                    run.metrics = summarize(model, data, event.result.metrics)
                    try:
                        teacher_cache.store(data, arch, config, model, run.metrics, event.result.history)
                    except (OSError, LabError) as e:
                        run.message = f"(Not stored in the server's teacher cache: {e})"
                yield "teacher", event

    return _start(job, events)


def _use_cached(run: Run, model, card: dict, logits, seconds: float = 0.0) -> None:
    run.model, run.test_logits = model, logits
    run.metrics = dict(card.get("metrics") or {})
    run.last = teacher_cache.as_event(model, card, seconds, "Loaded from the server's teacher cache.")
    run.history = [dict(row) for row in run.last.result.history]
    run.status, run.message = "finished", "reused from the server's teacher cache"


def _start_cached(job: Job, data: lab.Dataset, folder: Path, model, card: dict, logits, seconds: float) -> Job:
    """A teacher this server already trained: finished at once, recorded as reused."""
    ss = st.session_state
    job.session_id, job.owner, job.store = _session_id(), ss.get("session_key"), history_store()
    run = job.runs["teacher"]
    _use_cached(run, model, card, logits, seconds)
    job.cached_s = seconds
    _record_start(job, run, data)
    run.checkpoint = str(folder)
    job.status = "finished"
    _record_finish(job, run)
    ss.jobs.append(job)
    return job


def start_distill_job(teacher_key: str) -> Job:
    ss = st.session_state
    info = teacher_info(teacher_key)
    assert info is not None, teacher_key
    s = settings()
    config = replace(STUDENT_CONFIG, epochs=int(s["epochs"]), seed=int(s["seed"]), device=ss.device)
    teacher = copy.deepcopy(info.model)  # the job's own copy: moving it to a device never touches the shared one
    job = Job(next(_ids), "distill", ss.dataset, {**s, **config.as_dict()},
              {"hard": Run("hard", s["student"]), "distilled": Run("distilled", s["student"])},
              f"{s['student']} · T={s['T']:g} · α={s['alpha']:g} · {s['epochs']} epochs"
              + ("" if s["method"] == "kd" else f" · {s['method']}"), teacher_key=teacher_key)

    def events(data, stop):
        logits = teacher_train_logits(teacher, data, config.device)  # once per job: no augmentation
        yield from distill_pair_together(data, teacher, s["student"], float(s["T"]), float(s["alpha"]), config,
                                         stop, teacher_logits=logits, method=s["method"])

    return _start(job, events, teacher_for_metrics=teacher)


def latest_job(kind: str | None = None) -> Job | None:
    jobs = [j for j in st.session_state.get("jobs", []) if kind is None or j.kind == kind]
    return jobs[-1] if jobs else None


def running_job() -> Job | None:
    return next((j for j in st.session_state.get("jobs", []) if not j.done), None)


def touch() -> None:
    """Heartbeat: this session is still open and looking."""
    for job in st.session_state.get("jobs", []):
        if not job.done:
            job.heartbeat = time.monotonic()


# ---------------------------------------------------------------- teachers of this session

@dataclass
class TeacherInfo:
    key: str
    label: str
    arch: str
    model: torch.nn.Module
    metrics: dict
    test_logits: torch.Tensor
    dataset_name: str


def teachers(dataset_name: str | None = None) -> dict[str, TeacherInfo]:
    """The teachers this session can use on the dataset: the shipped one, then its own."""
    name = dataset_name or st.session_state.dataset
    found = {}
    pre = _pretrained(name)
    if pre is not None:
        model, card, logits = pre
        found["pretrained"] = TeacherInfo("pretrained", f"pretrained {card['arch']}", card["arch"], model,
                                          card["metrics"], logits, name)
    for key, info in st.session_state.get("uploaded_teachers", {}).items():
        if info.dataset_name == name:
            found[key] = info
    for job in st.session_state.get("jobs", []):
        run = job.runs.get("teacher")
        if job.kind == "teacher" and job.dataset_name == name and run.metrics is not None:
            found[job.key] = TeacherInfo(job.key, f"your {run.arch} (run {job.id})", run.arch, run.model,
                                         run.metrics, run.test_logits, name)
    return found


def add_uploaded_teacher(key: str, model: torch.nn.Module, card: dict, metrics: dict, data: lab.Dataset) -> None:
    """An uploaded, checked checkpoint becomes this session's teacher in use."""
    logits = predict_logits(model, data.test_images, data.mean, data.std)
    st.session_state.uploaded_teachers[key] = TeacherInfo(key, f"uploaded {card['arch']}", card["arch"], model,
                                                          metrics, logits, data.name)
    set_value("teacher_choice", key)


def teacher_info(key: str | None = None) -> TeacherInfo | None:
    available = teachers()
    key = key or st.session_state.get("teacher_choice")
    return available.get(key) or next(iter(available.values()), None)


def distill_jobs(dataset_name: str | None = None) -> list[Job]:
    name = dataset_name or st.session_state.dataset
    return [j for j in st.session_state.get("jobs", [])
            if j.kind == "distill" and j.dataset_name == name and j.runs["distilled"].metrics is not None]


def harvest() -> None:
    """After a teacher job ends well, make it the teacher in use (once)."""
    for job in st.session_state.get("jobs", []):
        if job.done and not getattr(job, "harvested", False):
            job.harvested = True
            if job.kind == "teacher" and job.runs["teacher"].metrics is not None \
                    and job.dataset_name == st.session_state.dataset:
                set_value("teacher_choice", job.key)


# ---------------------------------------------------------------- rendering helpers

def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "—"
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


STATUS_TEXT = {"queued": "Waiting for a free training slot…", "running": "Training…",
               "measuring": "Measuring accuracy, size and latency…"}


def job_panel(kind: str, show_result=None) -> None:
    """Live view of this session's latest `kind` job: progress, curves, Stop; then its outcome.

    Re-renders itself every POLL_S seconds while the job runs (st.fragment), so the rest of
    the page stays responsive. `show_result(job)` draws the page's result card.
    """
    job = latest_job(kind)
    if job is None:
        return
    was_queued = job.status == "queued"
    every = None if job.done else QUEUED_POLL_S if was_queued else POLL_S

    @st.fragment(run_every=every)
    def panel():
        touch()
        if job.done and not job.announced:
            job.announced = True
            st.rerun()  # the whole page (and the sidebar) now show the outcome
        if was_queued and job.status != "queued" and not job.done:
            st.rerun()  # it started: redraw the panel at the live polling rate
        _draw_job(job)
        if job.done and show_result is not None:
            show_result(job)

    panel()


def _draw_job(job: Job) -> None:
    done, total, rate, eta = job.progress()
    head = st.container()
    if job.status == "queued":
        cols = head.columns([5, 1])
        cols[0].info(f"{queue_text(job)} It starts by itself when a slot frees up; you can leave this page.",
                     icon=":material/hourglass_top:")
        if cols[1].button("Cancel", key=f"cancel-{job.key}", width="stretch"):
            job.cancel()
            st.rerun()
        return
    if not job.done:
        cols = head.columns([5, 1])
        frac = done / total if total else 0.0
        text = (f"{STATUS_TEXT.get(job.status, job.status)} step {done:,} of {total:,} · "
                f"{rate:,.0f} images/s · ETA {fmt_seconds(eta)}") if total else STATUS_TEXT.get(job.status, "")
        cols[0].progress(min(frac, 1.0), text=text)
        if cols[1].button("Stop", key=f"stop-{job.key}", type="primary", width="stretch",
                          disabled=job.stop.is_set()):
            job.stop.set()
            st.toast("Stopping… (takes effect within one step)")
    else:
        elapsed = fmt_seconds(max((r.last.seconds for r in job.runs.values() if r.last is not None), default=0))
        if job.status == "finished" and job.cached_s is not None:
            head.success(f"**This teacher was already trained on this server** — loaded in {job.cached_s:.1f} s "
                         f"instead of training **{job.label}** again.", icon=":material/bolt:")
        elif job.status == "finished":
            head.success(f"Finished **{job.label}** in {elapsed}.", icon=":material/check_circle:")
        elif job.status == "stopped":
            head.warning(f"**Stopped.** {job.message}", icon=":material/stop_circle:")
        elif job.status == "diverged":
            head.error(f"**Training diverged.** {job.message}", icon=":material/warning:")
        elif job.status == "abandoned":
            head.warning("This run was stopped because its browser tab was closed.", icon=":material/stop_circle:")
        elif job.status == "cancelled":
            head.info(f"**Cancelled.** {job.message}", icon=":material/cancel:")
        else:
            head.error(job.message, icon=":material/error:")
    histories = {(f"{r.name} ({r.arch})" if job.kind == "distill" else r.name): r.history
                 for r in job.runs.values()}
    totals = [r.last.total_steps for r in job.runs.values() if r.last is not None]
    if any(histories.values()):
        st.plotly_chart(figures.training_curves(histories, max(totals) if totals else None),
                        width="stretch", key=f"curves-{job.key}-{done}")


def queue_text(job: Job) -> str:
    """ "Queued — position 2 of 3 (1 job training at once on this server)." """
    q = job_queue.shared_queue().snapshot()
    return (f"Queued — position {job.position} of {len(q['waiting'])} ({q['limit']} training job"
            f"{'s' if q['limit'] != 1 else ''} at once on this server).")


def page_header(title: str, lead: str, icon: str = "") -> None:
    st.title(f"{icon} {title}".strip())
    st.markdown(f"<p class='lead'>{lead}</p>", unsafe_allow_html=True)


def need_teacher() -> TeacherInfo:
    """The teacher in use, or a friendly stop explaining how to get one."""
    info = teacher_info()
    if info is None:
        st.warning(f"There is no teacher for **{st.session_state.dataset}** yet. Train one on the "
                   "**Teacher** page (or pick mnist-sample, which ships with a pretrained teacher).", icon=":material/school:")
        st.page_link("app_pages/teacher.py", label="Go to the Teacher page", icon=":material/school:")
        st.stop()
    return info


def model_choices(role: str) -> dict[str, str]:
    """{name: "name — description (params)"} for the zoo's teachers or students on this dataset."""
    data = dataset()
    names = TEACHERS + STUDENTS if role == "teacher" else STUDENTS
    return {n: f"{n} · {count_params(lab.build(n, data.shape, data.num_classes)):,} params"
            for n in names}


def devices() -> list[str]:
    found = ["auto", "cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def device_label(name: str) -> str:
    return f"auto ({pick_device('auto').type})" if name == "auto" else name


def temperature_slider(label: str = "Temperature T") -> float:
    """The one T slider (same key on every page, so T follows you and the URL)."""
    return bound(st.slider, "T", label, 0.5, 20.0, step=0.5,
                     help="T = 1 is the ordinary softmax. Higher T softens the teacher's probabilities and "
                          "reveals how it ranks the wrong classes.")


def image_picker(data: lab.Dataset, label: str = "Test image") -> int:
    """A test-image index slider (shared across pages) and a random-pick button."""
    n = len(data.test_labels)
    if st.session_state.image_index >= n:
        set_value("image_index", 0)
    cols = st.columns([4, 1])
    with cols[1]:
        st.write("")
        if st.button(":material/casino:", help="a random test image", key="random_image"):
            set_value("image_index", int(torch.randint(n, (1,)).item()))
    with cols[0]:
        return bound(st.slider, "image_index", label, 0, n - 1)


# ---------------------------------------------------------------- experiment jobs (issue 5)
# A generic background job for any lab generator of `lab.experiments.Progress` events (the
# experiments' `run`/`experiment` functions): the last event carries the result dict. Kept
# apart from the training Jobs above (own list in session state) but sharing their training
# slots, heartbeat and closed-tab rule. Finished results are kept per session under a key
# built from the settings and the teacher, so revisiting a page is instant.

@dataclass
class ExperimentJob:
    id: int
    name: str                       # "sweep", "omit", ...
    key: str                        # the session cache key of its result (settings + teacher)
    label: str
    stop: threading.Event = field(default_factory=threading.Event)
    status: str = "queued"          # queued | running | finished | stopped | diverged | error | abandoned
    message: str = ""
    latest: object = None           # the last lab.experiments.Progress
    result: dict | None = None
    started: float = field(default_factory=time.monotonic)
    heartbeat: float = field(default_factory=time.monotonic)
    session_id: str | None = None
    thread: threading.Thread | None = None
    announced: bool = False
    owner: str | None = None        # the session's key in the run history
    store: object = None            # the RunStore it is recorded in (None: not recorded)
    record_id: int | None = None    # its row in the run history, once it started

    @property
    def done(self) -> bool:
        return self.status in ("finished", "stopped", "diverged", "error", "abandoned")

    @property
    def config(self) -> dict:
        """What it ran: the experiment, the dataset, the teacher and the settings (its cache key)."""
        import json
        try:
            return json.loads(self.key)
        except ValueError:
            return {"experiment": self.name}

    def fraction(self) -> float:
        return 0.0 if self.latest is None else min(max(self.latest.fraction, 0.0), 1.0)


def experiment_key(name: str, settings: dict, teacher_key: str | None = None) -> str:
    """Session cache key: the experiment, its settings, the dataset and the teacher in use."""
    import json
    ss = st.session_state
    return json.dumps({"experiment": name, "dataset": ss.get("dataset"), "teacher": teacher_key,
                       "settings": settings}, sort_keys=True, default=str)


def _experiment_should_stop(job: ExperimentJob) -> bool:
    """Stop pressed, or the browser tab is gone. (No heartbeat timeout: only the Experiments page
    polls an experiment, and a user reading another page is still there.)"""
    if job.stop.is_set():
        return True
    if _tab_closed(job.session_id):
        job.status = "abandoned"
        job.stop.set()
        return True
    return False


def _drain_experiment(job: ExperimentJob, make_progress) -> None:
    """The experiment's work in the shared queue (it runs once a training slot is free): keep the
    latest Progress."""
    try:
        if _experiment_should_stop(job):
            job.status = "abandoned" if job.status == "abandoned" else "stopped"
            job.message = "Stopped before it started."
            return
        job.status, job.started = "running", time.monotonic()
        _record_experiment_start(job)
        for progress in make_progress(lambda: _experiment_should_stop(job)):
            job.latest = progress
            if progress.done:
                job.result = progress.result if progress.status == "finished" else None
                job.message = progress.message
                if job.status != "abandoned":
                    job.status = progress.status
        if not job.done:
            job.status, job.message = "error", "The experiment ended without a result."
    except torch.OutOfMemoryError:
        job.status, job.message = "error", "Out of memory. Choose a smaller model, or the CPU (sidebar → device)."
    except LabError as e:
        job.status, job.message = "error", str(e)
    except Exception as e:  # a message on the page, never a traceback
        job.status, job.message = "error", f"The experiment failed: {type(e).__name__}: {e}"
    finally:
        _record_experiment_finish(job)


EXPERIMENT_STATUS = {"finished": "finished", "stopped": "stopped", "abandoned": "stopped"}  # else: failed


def _record_experiment_start(job: ExperimentJob) -> None:
    config = job.config
    settings = config.get("settings") if isinstance(config.get("settings"), dict) else {}
    job.record_id = _record(job, "start_run", job.name, config, dataset=config.get("dataset"),
                                       arch=settings.get("student"), name=f"{job.name} · {job.label}",
                                       group_id=f"{job.owner}-exp{job.id}", session=job.owner, owner=job.owner)


def _record_experiment_finish(job: ExperimentJob) -> None:
    """Close its history row: finished (with the result's summary in metrics), stopped or failed."""
    if job.record_id is None:
        return
    from lab.experiments.common import result_summary
    status = EXPERIMENT_STATUS.get(job.status, "running" if not job.done else "failed")
    if status == "running":  # ended without saying how (cannot happen: _drain_experiment sets it)
        status = "failed"
    _record(job, "finish_run", job.record_id, status,
                       metrics=result_summary(job.name, job.result) if status == "finished" else {},
                       message=job.message or None)


def start_experiment(name: str, key: str, label: str, make_progress) -> ExperimentJob:
    """Run `make_progress(stop)` (-> iterator of Progress) in a background thread."""
    job = ExperimentJob(next(_ids), name, key, label, session_id=_session_id(),
                        owner=st.session_state.get("session_key"), store=history_store())
    st.session_state.setdefault("experiment_jobs", []).append(job)
    try:  # the same shared queue as training jobs: experiments train too
        queued = job_queue.shared_queue().submit(lambda _stop: _drain_experiment(job, make_progress),
                                                 label=f"experiment: {label}", owner=st.session_state.get("session_key"))
    except LabError as e:
        job.status, job.message = "error", str(e)
        return job
    queued.stop = job.stop  # Stop (or the queue's cancel) sets one flag
    job.thread = _QueueThread(queued)
    return job


def experiment_jobs(name: str | None = None) -> list[ExperimentJob]:
    return [j for j in st.session_state.get("experiment_jobs", []) if name is None or j.name == name]


def running_experiment() -> ExperimentJob | None:
    return next((j for j in experiment_jobs() if not j.done), None)


def experiment_result(key: str) -> dict | None:
    """The finished result for this key in this session (None if it was never run)."""
    results = st.session_state.setdefault("experiment_results", {})
    if key not in results:
        for job in experiment_jobs():
            if job.key == key and job.status == "finished" and job.result is not None:
                results[key] = job.result
    return results.get(key)


def experiment_panel(job: ExperimentJob) -> None:
    """Progress (a few times a second), Stop, then the outcome; reruns the page once it ends."""

    was_queued = job.status == "queued"

    @st.fragment(run_every=None if job.done else QUEUED_POLL_S if was_queued else POLL_S)
    def panel():
        job.heartbeat = time.monotonic()
        if job.done and not job.announced:
            job.announced = True
            st.rerun()  # the page now shows the result
        if was_queued and job.status != "queued" and not job.done:
            st.rerun()  # it started: poll at the live rate
        p = job.latest
        if not job.done:
            cols = st.columns([5, 1])
            elapsed = time.monotonic() - job.started
            frac = job.fraction()
            eta = elapsed / frac * (1 - frac) if frac > 0.01 and job.status == "running" else None
            if job.status == "queued":
                text = STATUS_TEXT["queued"]
            elif p is None or p.total_runs == 0:
                text = "Preparing: the teacher's logits, the cache…"
            else:
                text = (f"Run {min(p.run_index + 1, p.total_runs)} of {p.total_runs}: {p.run} · "
                        f"{frac:.0%} · ETA {fmt_seconds(eta)}")
            cols[0].progress(frac, text=text)
            if cols[1].button("Stop", key=f"stop-exp{job.id}", type="primary", width="stretch",
                              disabled=job.stop.is_set()):
                job.stop.set()
                st.toast("Stopping… (takes effect within one step)")
        elif job.status == "finished":
            cached = " (from the cache)" if job.message == "from cache" else ""
            st.success(f"Finished **{job.label}**{cached}.", icon=":material/check_circle:")
        elif job.status == "stopped":
            st.warning(f"**Stopped.** {job.message} Nothing was kept; press Run to start again.",
                       icon=":material/stop_circle:")
        elif job.status == "diverged":
            st.error(f"**Training diverged.** {job.message}", icon=":material/warning:")
        elif job.status == "abandoned":
            st.warning("This experiment was stopped because its browser tab was closed.", icon=":material/stop_circle:")
        else:
            st.error(job.message, icon=":material/error:")

    panel()
