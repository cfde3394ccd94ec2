"""What every experiment section of the Experiments page shares: the dataset and teacher in use,
widgets whose values survive page switches, and ONE run block (Run, live progress with Stop, the
result kept for this browser under its settings and teacher). app_pages/experiments.py makes one
ExperimentPage per run and hands it to the section it draws."""
from __future__ import annotations

from typing import Callable

import streamlit as st

import lab
from app_pages import _app as app
from lab.errors import LabError
from lab.limits import MAX_EPOCHS
from lab.recipes import STUDENT_CONFIG
from lab.serve.tasks import Task, experiment_task


class ExperimentPage:
    def __init__(self, data: lab.Dataset, teacher):
        self.data = data
        self.teacher = teacher  # app.teachers.TeacherInfo

    def setting(self, widget, name: str, default, *args, **kwargs):
        """A widget whose value survives page switches (app.bound), with this page's default."""
        st.session_state.setdefault(name, default)
        return app.bound(widget, name, *args, **kwargs)

    def student_picker(self, name: str, default: str = lab.DEFAULT_STUDENT, label: str = "Student") -> str:
        choices = app.model_choices("student")
        return self.setting(st.selectbox, name, default, label, list(choices), format_func=choices.get)

    def kd_inputs(self, prefix: str, T: float = 4.0, alpha: float = 0.9,
                  epochs: int = STUDENT_CONFIG.epochs) -> tuple[float, float, int]:
        """T, α, epochs. Epochs default to the lesson's schedule: at 6 epochs a distilled MLP gains
        nothing over labels (EXPERIMENTS.md), so a shorter default would teach the wrong lesson."""
        c = st.columns(3)
        with c[0]:
            t = self.setting(st.number_input, f"{prefix}_T", T, "Temperature T", 0.5, 50.0, step=0.5)
        with c[1]:
            a = self.setting(st.number_input, f"{prefix}_alpha", alpha, "α (soft-target weight)", 0.0, 1.0, step=0.05)
        with c[2]:
            e = self.setting(st.number_input, f"{prefix}_epochs", epochs, "Epochs", 1, MAX_EPOCHS)
        return float(t), float(a), int(e)

    def make_config(self, cls, **settings):
        """The experiment's config, or a clear message (None) when the settings make no sense."""
        try:
            return cls(**settings, device=st.session_state.device)
        except (LabError, AssertionError, ValueError, TypeError) as e:
            app.show_error(f"These settings cannot run: {e or 'an empty grid'}. Change them above.", e)
            return None

    def runner(self, experiment: Callable, config) -> Callable | None:
        """`make_task(name, use_cache)` for run_block: the Task that runs `experiment(data, teacher, config,
        stop, use_cache)` (a lab.experiments generator, named by its module) on this page's dataset and
        teacher wherever jobs train; None without a config."""
        if config is None:
            return None
        call = f"{experiment.__module__}:{experiment.__name__}"
        return lambda name, use_cache: experiment_task(name, call, self.data.name, self.teacher.ref, config,
                                                       use_cache=use_cache)

    def run_block(self, name: str, settings: dict, label: str, make_task: Callable[[str, bool], Task] | None,
                  show) -> None:
        """Run button, live progress with Stop, then `show(result)` — the same for every experiment.
        `make_task(name, use_cache)` returns the Task of the experiment's Progress events (see runner)."""
        key = app.experiment_key(name, settings, self.teacher.key)
        result = app.experiment_result(key)
        jobs = app.experiment_jobs(name)
        job = jobs[-1] if jobs else None
        busy = app.running_experiment()
        c = st.columns([1, 3])
        go = c[0].button("Run" if result is None else "Run again (recompute)", key=f"run-{name}", type="primary",
                         disabled=busy is not None or make_task is None, width="stretch")
        c[1].caption(f"{label}" + ("  \nAnother experiment is running: wait for it or stop it."
                                   if busy is not None and busy.name != name else ""))
        if go and busy is None and make_task is not None:
            app.start_experiment(name, key, label, make_task(name, result is None))  # Run again: recompute
            st.rerun()
        if busy is not None and busy.name != name:
            app.experiment_panel(busy)
        elif job is not None and (not job.done or job.result_key == key):
            app.experiment_panel(job)
        if result is not None:
            try:
                show(result)
            except Exception as e:  # an old or damaged result: a message, never a traceback
                app.show_error(f"This result cannot be shown ({type(e).__name__}: {e}). Press Run again to "
                               "recompute it.", e)
        elif busy is None and (job is None or job.result_key != key):
            st.info("Press **Run** to start. Progress shows here; you can leave the page and come back.",
                    icon=":material/play_circle:")
