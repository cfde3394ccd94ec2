"""Distill: one click trains the same student twice from the same initial weights — on labels,
and on the teacher's soft targets — with both curves live on one chart."""
import streamlit as st

from lab.compare import verdict
from lab.objectives import explain
from app_pages import _app as app

app.page_header("Distill", "Same student, same starting weights, same batches — one learns from the labels, the "
                "other from the teacher's soft targets. Watch both learn side by side.")

data = app.dataset()
app.lesson_banner()
teacher = app.need_teacher()
ss = st.session_state
st.caption(f"Teacher: **{teacher.label}** · {teacher.metrics['test_accuracy']:.2%} test accuracy · "
           f"{teacher.metrics['params']:,} parameters (change it on the Teacher page).")

choices = app.model_choices("student")
c = st.columns([2, 2, 2, 1, 1])
with c[0]:
    app.bound(st.selectbox, "student", "Student", list(choices), format_func=choices.get)
with c[1]:
    T = app.temperature_slider()
with c[2]:
    app.bound(st.slider, "alpha", "α — weight of the soft targets", 0.0, 1.0, step=0.05,
              help="0 = labels only, 1 = the teacher's soft targets only.")
with c[3]:
    app.bound(st.number_input, "epochs", "Epochs", 1, 50)
if not app.instructor_mode():  # advanced: hidden in instructor mode
    with c[4]:
        app.bound(st.number_input, "seed", "Seed", 0, 10_000,
                  help="initial weights and batch order (both students share it)")

methods = app.DISTILL_METHODS
app.bound(st.radio, "method", "What the distilled student learns from", list(methods), format_func=methods.get,
          horizontal=True, help="Logit KD is the lesson's method; the others are explained (with formulas) on the "
                                "Experiments page, tab 4. T and α apply to logit KD only.")
if ss.method != "kd":
    st.caption(f":material/info: {explain(ss.method)}")

running = app.running_job()
b = st.columns([1, 3])
go = b[0].button("Train both students", type="primary", disabled=running is not None, width="stretch")
b[1].caption(":material/link: The page's URL now carries this setup (dataset, student, T, α, epochs, seed): paste it to a class "
             "and everyone opens the same experiment." + ("  \nA run is in progress: wait for it or stop it."
                                                         if running is not None else ""))
if go and running is None:
    app.start_distill_job(ss.get("teacher_choice"))
    st.rerun()


def show_pair(job) -> None:
    hard, distilled = job.runs["hard"].metrics, job.runs["distilled"].metrics
    if not (hard and distilled):
        return
    c = st.columns(3)
    c[0].metric("Student on labels", f"{hard['test_accuracy']:.2%}")
    c[1].metric("Distilled student", f"{distilled['test_accuracy']:.2%}",
                delta=f"{100 * (distilled['test_accuracy'] - hard['test_accuracy']):+.1f} points")
    c[2].metric("Agreement with the teacher", f"{distilled.get('agreement', 0):.1%}",
                delta=f"{100 * (distilled.get('agreement', 0) - hard.get('agreement', 0)):+.1f} points vs labels")
    info = app.teachers().get(job.teacher_key)
    if info is not None:
        st.markdown(f"<div class='verdict'>{verdict(info.metrics, hard, distilled)}</div>", unsafe_allow_html=True)
    st.page_link("app_pages/compare.py", label="Compare all models in detail", icon=":material/leaderboard:")


app.job_panel("distill", show_result=show_pair)

with st.expander("Learn more: a fair comparison"):
    st.markdown("""
- Both students start from **the same initial weights** (the seed) and see **the same batches in the same
  order**; the only difference is the objective: `HardLabels()` vs `SoftTargets(T, α)` (`lab/losses.py`).
- The teacher's logits on the training images are computed **once** and cached: the students see
  un-augmented images, so the teacher's answer for an image never changes and a step only indexes a tensor.
- The two runs take turns one progress event at a time (`lab/recipes.py → distill_pair_together()`), so
  their curves grow together.
- On 4,000 digits, a small student trained on labels overfits; the soft targets act as a strong,
  informative regularizer. Try α = 0 (identical to labels), a low T (≈ labels) and a very high T.""")
