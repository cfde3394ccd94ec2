"""Compare: teacher vs hard-label student vs distilled student, for every run of this session;
then any recorded runs (this session's by default, everyone's on request: the History page's picker)."""
import pandas as pd
import streamlit as st

from lab import figures
from lab.compare import comparison_row, verdict
from app_pages import _app as app

app.page_header("Compare", "Accuracy, size, speed, agreement with the teacher and calibration — measured, for "
                "every model you trained in this session, and for any run recorded on this server.")

data = app.dataset()
jobs = app.distill_jobs()
teachers = app.teachers()


def pair_section() -> None:
    """The latest student pair of this session against its teacher, then every pair of this session."""
    labels = {j.key: f"run {j.id}: {j.label}" for j in jobs}
    chosen = st.selectbox("Student pair", list(labels)[::-1], format_func=labels.get, key="compare_pair")
    job = next(j for j in jobs if j.key == chosen)
    teacher = teachers.get(job.teacher_key)
    hard, distilled = job.runs["hard"].metrics, job.runs["distilled"].metrics

    if teacher is not None:
        st.markdown(f"<div class='verdict'>{verdict(teacher.metrics, hard, distilled)}</div>", unsafe_allow_html=True)

    rows = []
    if teacher is not None:
        rows.append(comparison_row(f"teacher ({teacher.arch})", "teacher", {**teacher.metrics, "agreement": 1.0}))
    rows += [comparison_row(f"labels ({job.runs['hard'].arch})", "hard", hard),
             comparison_row(f"distilled ({job.runs['distilled'].arch})", "distilled", distilled)]
    table = pd.DataFrame(rows).drop(columns=["role"])
    table["bytes"] = table["bytes"].map(app.fmt_bytes)
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "model": "model", "test_accuracy": st.column_config.NumberColumn("test accuracy", format="percent"),
        "params": st.column_config.NumberColumn("parameters", format="localized"),
        "bytes": "size", "macs": st.column_config.NumberColumn("MACs / image", format="compact", help="multiply-adds per image"),
        "latency_ms": st.column_config.NumberColumn("latency (ms)", format="%.3f", help="CPU, one image at a time"),
        "agreement": st.column_config.NumberColumn("agreement", format="percent", help="same prediction as the teacher"),
        "ece": st.column_config.NumberColumn("ECE", format="%.3f", help="expected calibration error (lower is better)")})

    left, right = st.columns([2, 3], gap="large")
    with left:
        every = []  # every model of this session on this dataset
        for key, info in teachers.items():
            every.append(comparison_row("pretrained" if key == "pretrained" else f"teacher {key}", "teacher", info.metrics))
        for j in jobs:
            every.append(comparison_row(f"run {j.id} labels", "hard", j.runs["hard"].metrics))
            every.append(comparison_row(f"run {j.id} distilled", "distilled", j.runs["distilled"].metrics))
        st.plotly_chart(figures.accuracy_vs_size(every), width="stretch", key="compare-scatter")
    with right:
        named = []
        if teacher is not None:
            named.append(("teacher", teacher.metrics["confusion_matrix"]))
        named += [("student on labels", hard["confusion_matrix"]), ("distilled student", distilled["confusion_matrix"])]
        st.plotly_chart(figures.confusion_matrices(named, data.classes), width="stretch", key="compare-cm")

    if len(jobs) > 1:
        st.subheader("Every student pair of this session")
        history = pd.DataFrame([{"run": j.id, "student": j.runs["hard"].arch, "T": j.settings["T"],
                                 "α": j.settings["alpha"], "epochs": j.settings["epochs"], "seed": j.settings["seed"],
                                 "labels": j.runs["hard"].metrics["test_accuracy"],
                                 "distilled": j.runs["distilled"].metrics["test_accuracy"],
                                 "gain (points)": 100 * (j.runs["distilled"].metrics["test_accuracy"]
                                                         - j.runs["hard"].metrics["test_accuracy"])} for j in jobs])
        st.dataframe(history, hide_index=True, width="stretch", column_config={
            "labels": st.column_config.NumberColumn(format="percent"),
            "distilled": st.column_config.NumberColumn(format="percent"),
            "gain (points)": st.column_config.NumberColumn(format="%+.2f")})


if jobs:
    pair_section()
else:
    st.info("No students yet. Train a pair on the **Distill** page: the comparison appears here.", icon=":material/science:")
    st.page_link("app_pages/distill.py", label="Go to the Distill page", icon=":material/science:")

# ---------------------------------------------------------------- any recorded runs (the History page's picker)
st.subheader("Compare recorded runs")
store = app.history_store()
if store is None:
    st.caption(f"The run history cannot be used: {app.history_problem()}")
else:
    recorded, everyone = app.recorded_runs(store, "compare_everyone")
    if recorded:
        app.compare_recorded(recorded, "compare_runs")
    else:
        st.caption("No runs recorded " + ("on this server yet." if everyone else "in this session yet: switch on "
                   "**Show everyone's runs** to pick other students' and the command line's."))

with st.expander("Learn more: what the numbers mean"):
    st.markdown("""
- **Agreement with the teacher:** the share of test images on which the model predicts the same class as
  the teacher. Distillation usually raises it more than accuracy: the student learns the teacher's view.
- **Calibration error (ECE):** the average gap between confidence and accuracy over 15 confidence bins.
  Soft targets tend to make a student less over-confident.
- **Latency** is measured on this server's CPU, one image at a time (median of 20 runs).
- One run is one sample: change the seed and train again to see how much of a difference is noise.""")
