"""Teacher: use the pretrained teacher, or train your own live (progress, curves, Stop)."""
import streamlit as st

from lab.limits import MAX_EPOCHS
from lab.recipes import TEACHER_CONFIG
from app_pages import _app as app

app.page_header("Teacher", "The teacher is a big network trained the ordinary way, on labels. Its job later is to "
                "explain its answers to a small student. Use the pretrained one, or train your own here.")

data = app.dataset()
ss = st.session_state
available = app.available_teachers()


def result_card(info) -> None:
    m = info.metrics
    c = st.columns(5)
    c[0].metric("Test accuracy", f"{m['test_accuracy']:.2%}")
    c[1].metric("Parameters", f"{m['params']:,}")
    c[2].metric("Size on disk", app.fmt_bytes(m.get("bytes")))
    lat = m.get("latency_ms", m.get("latency_ms_b1"))
    c[3].metric("CPU latency / image", f"{lat:.2f} ms" if lat is not None else "—")
    c[4].metric("Calibration error", f"{m['ece']:.3f}" if m.get("ece") is not None else "—",
                help="Expected calibration error: how far its confidence is from its accuracy (lower is better).")


st.subheader("The teacher in use")
if available:
    labels = {k: v.label for k, v in available.items()}
    if ss.teacher_choice not in labels:
        app.set_value("teacher_choice", next(iter(labels)))
    keys = list(labels)
    # No widget key: the radio is redrawn from the kept choice (which a finished run also changes).
    picked = st.radio("Teacher", keys, index=keys.index(ss.teacher_choice), format_func=labels.get,
                      horizontal=True, label_visibility="collapsed")
    if picked != ss.teacher_choice:
        ss.teacher_choice = picked
        st.rerun()
    info = available[ss.teacher_choice]
    result_card(info)
    if info.key == "pretrained":
        st.caption(f"Shipped with the lab in `assets/teacher-{data.name}/`, trained with "
                   f"`python -m lab teacher --dataset {data.name} --out assets/teacher-{data.name}`.")
else:
    st.info(f"No teacher for **{data.name}** yet: train one below.", icon=":material/school:")

st.divider()
st.subheader("Train your own teacher")
choices = app.model_choices("teacher")
running = app.running_job()
with st.form("teacher_form", border=False):
    c = st.columns([3, 1, 1, 1])
    arch = app.bound(c[0].selectbox, "teacher_arch", "Architecture", list(choices), format_func=choices.get,
                     in_form=True)
    epochs = app.bound(c[1].number_input, "teacher_epochs", "Epochs", 1, MAX_EPOCHS, in_form=True)
    if app.instructor_mode():  # advanced: hidden in instructor mode, the kept value is used
        lr = ss.teacher_lr
    else:
        lr = app.bound(c[2].number_input, "teacher_lr", "Learning rate", 1e-5, 1.0, format="%.4f", step=1e-3,
                       in_form=True)
    c[3].write("")
    go = c[3].form_submit_button("Train teacher", type="primary", width="stretch",
                                 disabled=running is not None)
if running is not None and not go:
    st.caption("A run is in progress: it must end (or be stopped) before another starts.")
if go and running is None:
    app.start_teacher_job(arch, int(epochs), float(lr), int(ss.seed))
    st.rerun()



def show_trained(job) -> None:
    info = app.available_teachers().get(job.key)
    if info is not None:
        st.markdown(f"**Your teacher ({info.label})** — now the teacher in use:")
        result_card(info)


app.job_panel("teacher", show_result=show_trained)

with st.expander("Learn more: what makes a good teacher"):
    st.markdown(f"""
- A teacher should be **accurate** and **confident but not certain**: its soft targets carry the signal.
  Light augmentation (±2-pixel shifts) keeps it from memorizing the 4,000 training digits.
- Training uses AdamW with a one-cycle learning-rate schedule (peak {TEACHER_CONFIG.lr:g}),
  batches of {TEACHER_CONFIG.batch_size}, and the **same training loop** as the students
  (`lab/train.py → train()`), which yields progress events that this page draws.
- **Stop** sets a flag that the loop checks before every step, so it ends within one step and keeps the
  partial model.""")
