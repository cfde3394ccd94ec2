"""Starting each kind of job: a teacher, a student pair, an experiment. Each `start_*` builds a Job
for this browser and the lab.serve.tasks.Task it runs (names, numbers, configs, a teacher by
reference: what a worker process needs to load it there), then hands both to jobs.start(): the
page never sees a thread or a process. What a task does is lab/serve/tasks.py."""
from __future__ import annotations

import json
import time
from dataclasses import replace

import streamlit as st

from lab.lessons.dataset_defaults import defaults_for
from lab.recipes import TEACHER_CONFIG, student_recipe
from lab.serve import tasks, teacher_cache

from . import jobs, session
from .classroom import display_name
from .history import history_store
from .settings import settings
from .teachers import dataset, from_cache, teacher_info


def _job(kind: str, label: str, settings_: dict, runs: dict, **fields) -> jobs.Job:
    """A job of this browser: recorded under its key in the history, listed in its session."""
    ss = st.session_state
    sid = session.streamlit_session_id()
    job = jobs.Job(jobs.next_id(), kind, label, ss.dataset, settings_, runs, owner=ss.get("session_key"),
                   session_id=sid, store=history_store(), **fields)
    job.watch(sid)
    name = display_name()  # the name the student chose (optional): the instructor's view shows it
    for run in runs.values():  # what each history row records as its config
        run.config = run.config or {**settings_, "arch": run.arch, "dataset": job.dataset_name, "role": run.name}
        if name:
            run.config = {**run.config, "display_name": name}
    session.jobs().append(job)
    return job


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
        return jobs.finish_now(job, lambda stop: iter([("teacher", tasks.from_cache(model, card, logits, folder,
                                                                                      began))]))
    claim = teacher_cache.Claim(data, arch, config)
    job.cleanup.append(claim.release)
    task = tasks.Task("lab.serve.tasks:teacher", {"dataset": data.name, "arch": arch, "config": config})
    return jobs.start(job, task, ready=claim.try_acquire)


def start_distill_job(teacher_key: str) -> jobs.Job:
    """The hard-label and the distilled student, from the same initial weights, taking turns."""
    ss = st.session_state
    info = teacher_info(teacher_key)
    assert info is not None, teacher_key
    s = settings()
    config = replace(student_recipe(s["dataset"], s["student"]), epochs=int(s["epochs"]), seed=int(s["seed"]),
                     device=ss.device)
    label = (f"{s['student']} · T={s['T']:g} · α={s['alpha']:g} · {s['epochs']} epochs"
             + ("" if s["method"] == "kd" else f" · {s['method']}"))
    job = _job("distill", label, {**s, **config.as_dict(), "teacher_key": info.key},
               {"hard": jobs.Run("hard", s["student"]), "distilled": jobs.Run("distilled", s["student"])},
               teacher_key=info.key)
    task = tasks.Task("lab.serve.tasks:pair", {"dataset": job.dataset_name, "teacher": info.ref,
                                               "student": s["student"], "T": float(s["T"]),
                                               "alpha": float(s["alpha"]), "method": s["method"], "config": config,
                                               "transfer": defaults_for(s["dataset"]).transfer})
    return jobs.start(job, task)


def start_experiment(name: str, key: str, label: str, task: tasks.Task) -> jobs.Job:
    """Run an experiment's task (lab.serve.tasks.experiment_task: Progress events) as a job of this browser."""
    try:
        config = json.loads(key)
    except ValueError:
        config = {"experiment": name}
    student = config.get("settings", {}).get("student") if isinstance(config.get("settings"), dict) else None
    job = _job("experiment", label, config.get("settings") or {}, {name: jobs.Run(name, student, config)},
               name=name, result_key=key)
    job.dataset_name = config.get("dataset") or job.dataset_name
    return jobs.start(job, task)
