"""Experiments: *why* and *when* distillation works (issue 5). Nine experiments, each a
lab/experiments generator run in the background (app.start_experiment); a finished result is
kept in this session under its settings and teacher, so coming back is instant. The sections
live in app_pages/_experiments/ (one module per group); this page picks one and draws it."""
import streamlit as st

from app_pages import _app as app
from app_pages._experiments import cost, ensemble, soft_targets, targets
from app_pages._experiments.page import ExperimentPage

EXPERIMENTS = {"sweep": "1 · T × α sweep", "omit": "2 · Omitted class", "size": "3 · Data efficiency",
               "methods": "4 · Distillation targets", "calibration": "5 · Calibration",
               "conventions": "6 · Conventions & what breaks", "ensemble": "7 · Many teachers",
               "frontier": "8 · Cost-quality frontier", "blackbox": "9 · Black-box teacher"}
SECTIONS = {"sweep": soft_targets.sweep_section, "omit": soft_targets.omit_section,
            "size": soft_targets.size_section, "methods": targets.methods_section,
            "calibration": targets.calibration_section, "conventions": targets.conventions_section,
            "ensemble": ensemble.ensemble_section, "frontier": cost.frontier_section,
            "blackbox": cost.blackbox_section}

app.page_header("Experiments", "The Distill page shows <em>that</em> a distilled student can beat one trained on "
                "labels. These nine experiments show <em>why</em>, <em>when</em> and <em>at what cost</em>: run "
                "one, watch it, change a setting, compare.")

app.lesson_banner()
page = ExperimentPage(app.dataset(), app.need_teacher())
ss = st.session_state
st.caption(f"Teacher: **{page.teacher.label}** · {page.teacher.metrics.get('test_accuracy', 0):.2%} test accuracy "
           "(change it on the Teacher page). Results are kept for this session, per teacher and settings.")

last = ss.get("x_experiment") if ss.get("x_experiment") in SECTIONS else "sweep"
choice = page.setting(st.segmented_control, "x_experiment", "sweep", "Experiment", list(EXPERIMENTS),
                      format_func=EXPERIMENTS.get, label_visibility="collapsed")
if choice not in SECTIONS:  # clicking the selected segment again deselects it: keep showing it
    choice = ss["x_experiment"] = last
st.subheader(EXPERIMENTS[choice].split(" · ", 1)[1])
SECTIONS[choice](page)
