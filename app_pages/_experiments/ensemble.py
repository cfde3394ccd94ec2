"""Experiment 7 of the Experiments page: many teachers (an ensemble) distilled into one student.
Not a page: app_pages/experiments.py calls the section with its ExperimentPage."""
from __future__ import annotations

import streamlit as st

from app_pages import _app as app
from lab import figures
from lab.experiments import ensemble
from lab.models import STUDENTS, TEACHERS
from lab.serve.tasks import experiment_task


# ---------------------------------------------------------------- 7. many teachers -> one student

def ensemble_section(page) -> None:
    data = page.data
    st.markdown("""Hinton et al. distilled an **ensemble** into one model (mixtures of experts are distilled into dense
students the same way). The ensemble predicts the mean of its members' probabilities, which usually beats every
member; its soft targets at T are the mean of the members' softmax(z/T). Three students then start from the same
weights: on labels, from the best single member, and from the ensemble.""")
    available = app.available_teachers()
    c = st.columns([3, 1, 2, 1])
    with c[0]:
        picked = page.setting(st.multiselect, "x_ens_teachers", [], "Existing teachers to include", list(available),
                              format_func=lambda k: available[k].label if k in available else k,
                              help="A much stronger member dominates the average; train similar members below.")
        picked = [k for k in picked if k in available]
    with c[1]:
        new = page.setting(st.number_input, "x_ens_new", 3, "New members", 0, 6)
    with c[2]:
        archs = STUDENTS + TEACHERS
        arch = page.setting(st.selectbox, "x_ens_arch", "student-cnn-tiny", "Member architecture", archs)
    with c[3]:
        member_epochs = page.setting(st.number_input, "x_ens_member_epochs", 3, "Member epochs", 1, 30)
    c = st.columns([2, 3])
    with c[0]:
        student = page.student_picker("x_ens_student")
    T, alpha, epochs = page.kd_inputs("x_ens")
    settings = dict(teachers=picked, new_members=int(new), member_arch=arch, member_epochs=int(member_epochs),
                    student=student, temperature=T, alpha=alpha, epochs=epochs)
    config = page.make_config(ensemble.EnsembleConfig, student=student, temperature=T, alpha=alpha, epochs=epochs)
    if len(picked) + int(new) < 2:
        st.warning("An ensemble needs at least two members: include a teacher or train new members.")
        config = None

    def show(result):
        m = st.columns(3)
        best = result["teacher_accuracies"][result["best_teacher"]]  # picked on held-out test images
        m[0].metric("Best member", f"{best:.2%}")
        m[1].metric("Ensemble", f"{result['ensemble_accuracy']:.2%}",
                    delta=f"{100 * (result['ensemble_accuracy'] - best):+.1f} points")
        m[2].metric("Student from the ensemble", f"{result['student_from_ensemble']:.2%}",
                    delta=f"{100 * (result['student_from_ensemble'] - result['student_from_best_teacher']):+.1f} "
                          "points vs best member")
        if "report_size" in result:
            st.caption(f"The best member is picked on {result['selection_size']} held-out test images; every "
                       f"accuracy here is measured on the other {result['report_size']}.")
        st.plotly_chart(figures.ensemble_bars(result), width="stretch", key="x-ens-bars")

    def make(name, use_cache):
        return experiment_task(name, "lab.experiments.ensemble:with_new_members", data.name,
                               [available[k].ref for k in picked], config, new_members=int(new), member_arch=arch,
                               member_epochs=int(member_epochs), member_names=[available[k].label for k in picked],
                               use_cache=use_cache)

    page.run_block("ensemble", settings, f"{len(picked) + int(new)} members → {student}, {epochs} epochs — "
                                         f"{int(new) + 3} training runs", None if config is None else make, show)
