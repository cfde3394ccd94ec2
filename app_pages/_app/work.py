"""What each kind of job does: the functions a backend runs (train a teacher, a student pair, an
experiment) and the descriptions they run under. Each `start_*` builds a Job for this browser,
then hands it to jobs.start(): the page never sees a thread."""
from __future__ import annotations

import copy
import json
import time
from dataclasses import replace

import streamlit as st

from lab.serve import classroom, teacher_cache
from lab.errors import LabError
from lab.metrics import predict_logits
from lab.recipes import (STUDENT_CONFIG, TEACHER_CONFIG, distill_pair_together, summarize, teacher_train_logits,
                         train_teacher)

from . import jobs, session
from .classroom import display_name
from .history import history_store
from .settings import settings
from .teachers import dataset, from_cache, teacher_info


def _job(kind: str, label: str, settings_: dict, runs: dict, **fields) -> jobs.Job:
    """A job of this browser: recorded under its key in the history, listed in its session."""
    ss = st.session_state
    job = jobs.Job(jobs.next_id(), kind, label, ss.dataset, settings_, runs, owner=ss.get("session_key"),
                   store=history_store(), **fields)
    job.watch(session.streamlit_session_id())
    name = display_name()  # the name the student chose (optional): the instructor's view shows it
    for run in runs.values():  # what each history row records as its config
        run.config = run.config or {**settings_, "arch": run.arch, "dataset": job.dataset_name, "role": run.name}
        if name:
            run.config = {**run.config, "display_name": name}
    session.jobs().append(job)
    return job


def _measured(model, data, last_metrics: dict, teacher=None, **extra) -> jobs.Measured:
    """A finished model, measured on the test set: accuracy, agreement, calibration, size, latency."""
    model = model.cpu().eval()
    metrics = summarize(model, data, last_metrics, teacher=None if teacher is None else teacher.cpu())
    return jobs.Measured(model, metrics, predict_logits(model, data.test_images, data.mean, data.std), **extra)


def start_teacher_job(arch: str, epochs: int, lr: float, seed: int) -> jobs.Job:
    """Train a teacher, unless this server already trained the same configuration: then the
    cached one is loaded at once (no queue, no training). While another session trains it,
    the job waits, without a training slot and stoppable, then loads that teacher."""
    ss = st.session_state
    config = replace(TEACHER_CONFIG, epochs=int(epochs), lr=float(lr), seed=int(seed), device=ss.device)
    data = dataset(ss.dataset)
    job = _job("teacher", f"{arch} · {epochs} epoch{'s' if epochs != 1 else ''}", {"arch": arch, **config.as_dict()},
               {"teacher": jobs.Run("teacher", arch)})
    folder = str(teacher_cache.cache_folder(data, arch, config))
    began = time.perf_counter()
    found = from_cache(data, arch, config)
    if found is not None:
        model, card, logits = found
        return jobs.finish_now(job, lambda stop: iter([("teacher", _cached(model, card, logits, folder, began))]))
    claim = teacher_cache.Claim(data, arch, config)
    job.cleanup.append(claim.release)

    def events(stop):
        began = time.perf_counter()
        cached = teacher_cache.lookup(data, arch, config)  # trained by the session we waited for
        if cached is not None:
            logits = predict_logits(cached[0], data.test_images, data.mean, data.std)
            yield "teacher", _cached(*cached, logits, folder, began)
            return
        for event in train_teacher(data, arch, config, stop):
            yield "teacher", event
            if event.kind == "finished":  # measure and share it before the claim is released
                measured = _measured(event.result.model, data, event.result.metrics)
                try:
                    teacher_cache.store(data, arch, config, measured.model, measured.metrics, event.result.history)
                except (OSError, LabError) as e:
                    measured.message = f"(Not stored in the server's teacher cache: {e})"
                yield "teacher", measured

    return jobs.start(job, events, ready=claim.try_acquire)


def _cached(model, card: dict, logits, folder: str, began: float) -> jobs.Measured:
    seconds = time.perf_counter() - began
    event = teacher_cache.as_event(model, card, seconds, "Loaded from the server's teacher cache.")
    return jobs.Measured(model, dict(card.get("metrics") or {}), logits, checkpoint=folder, cached_s=seconds,
                         event=event)


def start_distill_job(teacher_key: str) -> jobs.Job:
    """The hard-label and the distilled student, from the same initial weights, taking turns."""
    ss = st.session_state
    info = teacher_info(teacher_key)
    assert info is not None, teacher_key
    s = settings()
    config = replace(STUDENT_CONFIG, epochs=int(s["epochs"]), seed=int(s["seed"]), device=ss.device)
    teacher = copy.deepcopy(info.model)  # the job's own copy: moving it to a device never touches the shared one
    label = (f"{s['student']} · T={s['T']:g} · α={s['alpha']:g} · {s['epochs']} epochs"
             + ("" if s["method"] == "kd" else f" · {s['method']}"))
    job = _job("distill", label, {**s, **config.as_dict(), "teacher_key": info.key},
               {"hard": jobs.Run("hard", s["student"]), "distilled": jobs.Run("distilled", s["student"])},
               teacher_key=info.key)
    data = dataset(job.dataset_name)

    def events(stop):
        logits = teacher_train_logits(teacher, data, config.device)  # once per job: no augmentation
        last = {}
        for name, event in distill_pair_together(data, teacher, s["student"], float(s["T"]), float(s["alpha"]),
                                                 config, stop, teacher_logits=logits, method=s["method"]):
            last[name] = event
            yield name, event
        measured = {name: _measured(event.result.model, data, event.result.metrics, teacher=teacher)
                    for name, event in last.items() if event.kind == "finished"}  # even if its partner stopped
        if len(measured) == 2:  # both finished: which test images each got right, for the paired interval
            measured["distilled"].metrics["paired"] = classroom.paired_counts(
                data.test_labels, measured["hard"].test_logits, measured["distilled"].test_logits)
        yield from measured.items()

    return jobs.start(job, events)


def start_experiment(name: str, key: str, label: str, make_progress) -> jobs.Job:
    """Run `make_progress(stop)` (-> iterator of lab.experiments.Progress) as a job of this browser."""
    try:
        config = json.loads(key)
    except ValueError:
        config = {"experiment": name}
    student = config.get("settings", {}).get("student") if isinstance(config.get("settings"), dict) else None
    job = _job("experiment", label, config.get("settings") or {}, {name: jobs.Run(name, student, config)},
               name=name, result_key=key)
    job.dataset_name = config.get("dataset") or job.dataset_name

    def events(stop):
        for progress in make_progress(stop):
            yield name, progress

    return jobs.start(job, events)
