"""Lessons (lab.lessons.presets) in the app: one click loads a lesson's setup, a banner reminds the
class of its question, and a lesson that needs its own teacher says what to click."""
from __future__ import annotations

import streamlit as st

from lab.lessons import presets
from lab.lessons.dataset_defaults import defaults_for

from . import session
from .settings import SETTINGS, lesson_extras, set_value
from .teachers import teacher_info

LESSON_PAGES = {"soft-targets": "app_pages/dark_knowledge.py", "distill": "app_pages/distill.py",
                "compare": "app_pages/compare.py", "history": "app_pages/history.py", "draw": "app_pages/draw.py",
                "experiments": "app_pages/experiments.py"}


def lesson_teacher_needed(lesson: presets.Lesson) -> bool:
    """True when a lesson needs its own teacher (Lesson 4: 1 epoch) and the one in use is not it."""
    s = lesson.settings
    if s["teacher_epochs"] == defaults_for(s["dataset"]).teacher.epochs:  # its dataset's usual teacher
        return False
    info = teacher_info()
    job = next((j for j in session.jobs() if info is not None and j.key == info.key), None)
    return job is None or job.settings.get("epochs") != s["teacher_epochs"] or job.settings.get("arch") != s["teacher"]


def load_lesson(key: str) -> None:
    """One click: the lesson's whole setup into the bound settings (and so into the URL)."""
    lesson = presets.LESSONS[key]
    for name, setting in SETTINGS.items():
        if setting in lesson.settings:
            set_value(name, lesson.settings[setting])
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
