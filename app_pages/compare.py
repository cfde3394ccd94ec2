"""Compare: teacher vs hard-label student vs distilled student, for every run of this session;
then any recorded runs (this browser's; everyone's only on a server that shares its history: the History page's picker)."""
import pandas as pd
import streamlit as st

from lab import figures
from lab.figures import gain_chart
from lab.compare import comparison_row, stored_pair_difference, verdict
from lab.figures import changed_grid, three_soft_targets
from lab.metrics import predict_logits
from lab.paired_images import soft_targets_of, where_changed
from lab.paired_images import summary as paired_summary
from lab.speed import measure_speed
from app_pages import _app as app

app.page_header("Compare", "Accuracy, size, speed, agreement with the teacher and calibration — measured, for "
                "every model you trained in this session, and for any run recorded on this server.")

data = app.dataset()
jobs = app.distill_jobs()
teachers = app.available_teachers()


def pair_section() -> None:
    """The latest student pair of this session against its teacher, then every pair of this session."""
    labels = {j.key: f"run {j.id}: {j.label}" for j in jobs}
    chosen = st.selectbox("Student pair", list(labels)[::-1], format_func=labels.get, key="compare_pair")
    job = next(j for j in jobs if j.key == chosen)
    teacher = teachers.get(job.teacher_key)
    hard, distilled = job.runs["hard"].metrics, job.runs["distilled"].metrics
    paired = stored_pair_difference(distilled)
    speed = live_speed(job, teacher)

    if teacher is not None:
        st.markdown(f"<div class='verdict'>{verdict(teacher.metrics, hard, distilled, paired=paired, speed=speed)}</div>",
                    unsafe_allow_html=True)

    rows = []
    if teacher is not None:
        rows.append(comparison_row(f"teacher ({teacher.arch})", "teacher", {**teacher.metrics, "agreement": 1.0}, speed))
    rows += [comparison_row(f"labels ({job.runs['hard'].arch})", "hard", hard, speed),
             comparison_row(f"distilled ({job.runs['distilled'].arch})", "distilled", distilled, speed)]
    table = pd.DataFrame(rows).drop(columns=["role", "recorded_latency_ms"])
    table["bytes"] = table["bytes"].map(app.fmt_bytes)
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "model": "model", "test_accuracy": st.column_config.NumberColumn("test accuracy", format="percent"),
        "params": st.column_config.NumberColumn("parameters", format="localized"),
        "bytes": "size", "macs": st.column_config.NumberColumn("MACs / image", format="compact", help="multiply-adds per image"),
        "latency_ms": st.column_config.NumberColumn("latency (ms)", format="%.3f",
                                                    help="measured just now, one image at a time, the models taking turns"),
        "images_per_s": st.column_config.NumberColumn("images/s (batch 256)", format="%.0f",
                                                      help="measured just now, batches of 256, the models taking turns"),
        "agreement": st.column_config.NumberColumn("agreement", format="percent", help="same prediction as the teacher"),
        "ece": st.column_config.NumberColumn("ECE", format="%.3f", help="expected calibration error (lower is better)")})
    c = st.columns([4, 1])
    if speed is not None:
        c[0].caption(f"Speed measured live on this server's CPU a moment ago, all {len(speed.names)} models in one "
                     f"measurement, taking turns (batch 1 and 256, median of {speed.repeats}, {speed.threads} "
                     f"thread{'s' if speed.threads != 1 else ''}). Other jobs on the server slow the models too, a long "
                     "call more than a short one (it is interrupted more often); a model card's stored latency was "
                     "timed at another moment and is not compared.")
    if c[1].button("Measure speed again", key=f"speed-again-{job.key}", width="stretch"):
        st.session_state.setdefault("live_speed", {}).pop(job.key, None)
        st.rerun()
    if paired is not None:
        st.plotly_chart(gain_chart(paired.as_dict(), seed=job.settings.get("seed")), width="stretch",
                        key=f"compare-gain-{job.key}")
    changed_section(job, teacher)

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
        def gain_columns(j) -> dict:
            d = stored_pair_difference(j.runs["distilled"].metrics)
            if d is None:
                return {"gain (points)": 100 * (j.runs["distilled"].metrics["test_accuracy"]
                                                - j.runs["hard"].metrics["test_accuracy"]), "95 % CI": "", "noise": ""}
            return {"gain (points)": 100 * d.difference, "95 % CI": f"{100 * d.low:+.1f} to {100 * d.high:+.1f}",
                    "noise": "within noise" if d.within_noise else "beyond noise"}

        history = pd.DataFrame([{"run": j.id, "student": j.runs["hard"].arch, "T": j.settings["T"],
                                 "α": j.settings["alpha"], "epochs": j.settings["epochs"], "seed": j.settings["seed"],
                                 "labels": j.runs["hard"].metrics["test_accuracy"],
                                 "distilled": j.runs["distilled"].metrics["test_accuracy"], **gain_columns(j)}
                                for j in jobs])
        st.dataframe(history, hide_index=True, width="stretch", column_config={
            "labels": st.column_config.NumberColumn(format="percent"),
            "distilled": st.column_config.NumberColumn(format="percent"),
            "gain (points)": st.column_config.NumberColumn(format="%+.1f"),
            "95 % CI": st.column_config.TextColumn(help="exact paired interval over the same test images (Clopper–Pearson "
                                                         "on the images only one student gets right; it excludes 0 "
                                                         "exactly when McNemar's exact test has p < 0.05)")})


def pair_logits(run):
    """A student's test logits: kept from training, else computed once from its (re)loaded model."""
    if run.test_logits is None and run.model is not None:
        run.test_logits = predict_logits(run.model, data.test_images, data.mean, data.std)
    return run.test_logits


def changed_section(job, teacher) -> None:
    """The test images one student alone gets right (the paired table's off-diagonal), a click from their bars."""
    st.subheader("Where distillation helped, image by image")
    hard, distilled = pair_logits(job.runs["hard"]), pair_logits(job.runs["distilled"])
    if hard is None or distilled is None:
        st.caption("This pair's models are no longer available, so its images cannot be shown.")
        return
    changed = where_changed(data.test_labels, teacher.test_logits if teacher is not None else None, hard, distilled)
    st.markdown(paired_summary(changed))
    kinds = {"helped": f"distilled right, labels wrong ({len(changed.helped)})",
             "hurt": f"labels right, distilled wrong ({len(changed.hurt)})"}
    kind = st.segmented_control("Which images", list(kinds), format_func=kinds.get, default="helped",
                                key=f"changed-kind-{job.key}") or "helped"
    indices = (changed.helped if kind == "helped" else changed.hurt)[:40]  # most confident first
    sure = "distilled" if kind == "helped" else "labels"
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.caption(f"Sorted by how sure the {'distilled' if kind == 'helped' else 'label-trained'} student is of its "
                   f"(right) answer, most confident first{'; the first 40' if len(indices) == 40 else ''}.")
        event = st.plotly_chart(changed_grid(data.test_images, indices, [changed.confidence(sure, i) for i in indices]),
                                width="stretch", key=f"changed-grid-{job.key}-{kind}", on_select="rerun",
                                selection_mode="points")
    clicked = [p["customdata"][0] for p in (event.selection.points if event else []) if p.get("customdata")]
    if clicked and clicked[0] in indices:  # a click on an image picks it for the bars
        st.session_state[f"changed-image-{job.key}-{kind}"] = clicked[0]
    with right:
        if indices:
            i = st.selectbox("Image", indices, key=f"changed-image-{job.key}-{kind}", format_func=lambda i: (
                f"test image {i}: a {data.classes[int(data.test_labels[i])]}, {sure} student "
                f"{changed.confidence(sure, i):.0%} sure"))
            st.plotly_chart(three_soft_targets(soft_targets_of(changed, i), data.classes,
                                               int(data.test_labels[i])), width="stretch",
                            key=f"changed-bars-{job.key}")


def live_speed(job, teacher):
    """One interleaved measurement of this pair and its teacher, kept for the session (re-measured on request)."""
    kept = st.session_state.setdefault("live_speed", {})
    if job.key not in kept:
        models = {"hard": job.runs["hard"].model, "distilled": job.runs["distilled"].model}
        if teacher is not None:
            models = {"teacher": teacher.model, **models}
        if any(m is None for m in models.values()):
            return None
        with st.spinner("Timing the models, taking turns…"):
            kept[job.key] = measure_speed(models, data.shape, repeats=5)
    return kept[job.key]


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
        st.caption("No runs recorded " + ("on this server yet." if everyone else "in this browser yet."))

with st.expander("Learn more: what the numbers mean"):
    st.markdown("""
- **Agreement with the teacher:** the share of test images on which the model predicts the same class as
  the teacher. Distillation usually raises it more than accuracy: the student learns the teacher's view.
- **Calibration error (ECE):** the average gap between confidence and accuracy over 15 confidence bins.
  Soft targets tend to make a student less over-confident.
- **Latency and images/s** are measured live on this server's CPU, every model of the comparison in one
  measurement, taking turns (batch 1 and 256, median of repeats): a number timed a minute earlier, under
  another load, would compare the machine with itself.
- **Within noise:** both students are scored on the same test images, so the gain's interval is exact and
  paired: it counts only the images one student alone gets right and asks how they split (Clopper–Pearson);
  it excludes 0 exactly when McNemar's exact test on those images has p < 0.05. On
  1,000 images one image is 0.1 point, and a gain under about 1 point is often within noise.
- One run is one sample: **Repeat over 5 seeds** on the Distill page shows how much of a gain is the seed's luck.""")
