"""The experiment's settings: widgets <-> st.session_state <-> the URL, read and written only
through lab.lessons.presets (one parser: a bad value in a link falls back to its default, with a notice)."""
from __future__ import annotations

import logging

import streamlit as st

from lab.lessons import dataset_defaults, presets
from lab.recipes import TEACHER_CONFIG

from .fmt import md_text

log = logging.getLogger(__name__)

# What the Distill page's distilled student may learn from (lab.objectives, by name).
DISTILL_METHODS = {"kd": "soft targets (logit KD, Hinton 2015)", "hint": "hidden features (FitNets hint)",
                   "attention": "attention maps (Zagoruyko & Komodakis)",
                   "pseudo-labels": "the teacher's answers as labels (pseudo-labels)"}
assert tuple(DISTILL_METHODS) == presets.METHODS
# The app's name for each setting the link carries -> its name in lab.lessons.presets.
SETTINGS = {"dataset": "dataset", "student": "student", "T": "temperature", "alpha": "alpha", "epochs": "epochs",
            "seed": "seed", "method": "method"}
# Other values that outlive page switches (widgets bound to them with `bound()`).
DEFAULTS = {"device": "auto", "teacher_choice": "pretrained", "teacher_arch": presets.DEFAULTS["teacher"],
            "teacher_epochs": presets.DEFAULTS["teacher_epochs"], "teacher_lr": TEACHER_CONFIG.lr,
            "log_scale": False, "image_index": 0, "instructor": False}
# Advanced controls that instructor mode hides (the class sees the lesson, not the knobs).
ADVANCED = ("teacher_lr", "seed", "device")
# The settings a dataset's default run sets (lab.lessons.dataset_defaults.RUN_SETTINGS) -> the app's names.
RUN_NAMES = {"student": "student", "temperature": "T", "alpha": "alpha", "epochs": "epochs",
             "teacher_epochs": "teacher_epochs"}
assert tuple(RUN_NAMES) == dataset_defaults.RUN_SETTINGS


def lesson_extras(lesson: presets.Lesson) -> dict:
    """The rest of a lesson's setup: the teacher to train if you train your own; a lesson that hides
    a class (Lesson 3) is the Experiments page's omitted-class experiment, selected and filled in."""
    s = lesson.settings
    extras = {"teacher_arch": s["teacher"], "teacher_epochs": s["teacher_epochs"]}
    if s.get("hidden_class") is not None:
        extras.update(x_experiment="omit", x_omit_class=int(s["hidden_class"]), x_omit_student=s["student"],
                      x_omit_T=float(s["temperature"]), x_omit_epochs=int(s["epochs"]))
    return extras


def init_settings(restored: dict | None = None) -> None:
    """Settings from the URL (a shared link opens the same experiment); what this browser had
    before a reload (the teacher in use, instructor mode) where the link does not say."""
    ss = st.session_state
    query = st.query_params.to_dict()
    notices: list[str] = []
    parsed = presets.from_query_params(query, notices=notices)
    for name, key in SETTINGS.items():
        ss[name] = parsed.get(key, presets.URL_EXTRAS.get(key))
    for name, value in DEFAULTS.items():
        ss[name] = value
    for name in ("teacher_choice", "instructor"):
        if (restored or {}).get(name) is not None:
            ss[name] = restored[name]
    if "instructor" in parsed:
        ss.instructor = parsed["instructor"]
    lesson = presets.LESSONS.get(query.get("lesson") or "")
    if lesson is not None:
        ss.lesson = lesson.key
        ss.update(lesson_extras(lesson))
    ss.url_notices = notices
    for notice in notices:
        log.info("a link's value fell back to its default: %s", notice)


def dataset_switched() -> None:
    """The sidebar's dataset changed (a callback): the new dataset's default Distill run replaces the
    page's settings (lab.lessons.dataset_defaults, the one source), and a one-line notice names what
    changed. A loaded lesson keeps its own settings."""
    ss = st.session_state
    if presets.LESSONS.get(ss.get("lesson") or "") is not None:
        return
    current = {key: ss[name] for key, name in RUN_NAMES.items() if name in ss}
    moved, ss.dataset_notice = dataset_defaults.switch_dataset(current, ss.dataset)
    for key, name in RUN_NAMES.items():
        if key in current and moved[key] != current[key]:
            set_value(name, moved[key])


def url_notices() -> None:
    """Once, on the first page: what in the link could not be used (one line each); once after a
    dataset switch: which of its defaults were applied."""
    notice = st.session_state.get("dataset_notice")
    if notice:
        st.session_state.dataset_notice = None
        st.info(notice, icon=":material/tune:")
    notices = st.session_state.get("url_notices")
    if notices:
        st.session_state.url_notices = []
        st.warning("**Part of this link could not be used:**  \n" + "  \n".join(f"- {md_text(n)}" for n in notices),
                   icon=":material/link_off:")  # a notice quotes the link's own text: escaped


def bound(widget, name: str, *args, in_form: bool = False, then=None, **kwargs):
    """Call a widget whose value lives in st.session_state[name] and survives page switches.

    Streamlit forgets a widget's state when a page without it runs; the value is kept under
    `name` (never a widget key) and the widget (key `w_<name>`) starts from it. `then`: called
    after a change is copied back (the dataset's: its defaults).
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
        kwargs["args"] = (name, then)
    value = widget(*args, key=key, **kwargs)
    ss[name] = value
    return value


def _copy_back(name: str, then=None) -> None:
    st.session_state[name] = st.session_state[f"w_{name}"]
    if then is not None:
        then()


def set_value(name: str, value) -> None:
    """Change a bound setting from code (before its widget is drawn in this run)."""
    st.session_state[name] = value
    st.session_state[f"w_{name}"] = value


def settings() -> dict:
    return {k: st.session_state[k] for k in SETTINGS}


def share_params() -> dict[str, str]:
    """The URL query parameters of this session's setup (a lesson and instructor mode included)."""
    ss = st.session_state
    values = {key: ss[name] for name, key in SETTINGS.items()}
    values["instructor"] = bool(ss.get("instructor"))
    return presets.to_query_params(values, lesson=ss.get("lesson"),
                                   keys=tuple(k for k in SETTINGS.values() if k != "method"))


def sync_query_params() -> None:
    """Write the experiment back to the URL (only when it changed)."""
    wanted = share_params()
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


def instructor_mode() -> bool:
    """True when the sidebar's instructor mode hides the advanced controls."""
    return bool(st.session_state.get("instructor"))
