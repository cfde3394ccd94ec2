"""Distill: one click trains the same student twice from the same initial weights — on labels,
and on the teacher's soft targets — with both curves live on one chart."""
import streamlit as st

from lab.figures import gain_chart
from lab.limits import MAX_EPOCHS
from lab.compare import stored_pair_difference, verdict
from lab.lessons.dataset_defaults import defaults_for
from lab.experiments import seeds as seed_repeat
from lab.serve.tasks import experiment_task
from lab.objectives import explain
from lab.stats import paired_from_logits
from app_pages import _app as app

REPEATS = 5  # "Repeat over 5 seeds": pairs of the MLP student train stacked, so this stays cheap

app.page_header("Distill", "Same student, same starting weights, same batches — one learns from the labels, the "
                "other from the teacher's soft targets. Watch both learn side by side.")

data = app.dataset()
app.lesson_banner()
teacher = app.need_teacher()
ss = st.session_state
st.caption(f"Teacher: **{teacher.label}** · {teacher.metrics['test_accuracy']:.2%} test accuracy · "
           f"{teacher.metrics['params']:,} parameters (change it on the Teacher page).")
st.caption(f":material/tune: {defaults_for(data.name).sentence()}")  # measured per dataset (lab.lessons.dataset_defaults)

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
    app.bound(st.number_input, "epochs", "Epochs", 1, MAX_EPOCHS)
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


def pair_difference(job):
    """Distilled − labels on the same test images: from the pair's stored 2×2 table, else its logits."""
    paired = stored_pair_difference(job.runs["distilled"].metrics)
    hard, distilled = job.runs["hard"].test_logits, job.runs["distilled"].test_logits
    if paired is None and hard is not None and distilled is not None:
        paired = paired_from_logits(hard, distilled, data.test_labels)
    return paired


def repeat_settings(job) -> dict:
    """The finished pair's own settings (not the widgets'), seeds s … s+4: seed s is that pair."""
    s = job.settings
    return {"student": s["student"], "temperature": float(s["T"]), "alpha": float(s["alpha"]),
            "epochs": int(s["epochs"]), "seeds": list(range(int(s["seed"]), int(s["seed"]) + REPEATS))}


def repeat_key(job) -> str:
    return app.experiment_key("seeds", repeat_settings(job), job.teacher_key)


def show_pair(job) -> None:
    hard, distilled = job.runs["hard"].metrics, job.runs["distilled"].metrics
    if not (hard and distilled):
        return
    paired = app.memo.get(("pair-difference", job.key), lambda: pair_difference(job))  # a finished pair's: fixed
    c = st.columns(3)
    c[0].metric("Student on labels", f"{hard['test_accuracy']:.2%}")
    c[1].metric("Distilled student", f"{distilled['test_accuracy']:.2%}",
                delta=f"{100 * (distilled['test_accuracy'] - hard['test_accuracy']):+.1f} points"
                      + ("" if paired is None else (" · within noise" if paired.within_noise else " · beyond noise")),
                delta_color="off" if paired is None or paired.within_noise else "normal")
    c[2].metric("Agreement with the teacher", f"{distilled.get('agreement', 0):.1%}",
                delta=f"{100 * (distilled.get('agreement', 0) - hard.get('agreement', 0)):+.1f} points vs labels")
    info = app.available_teachers().get(job.teacher_key)
    if info is not None:
        st.markdown(f"<div class='verdict'>{verdict(info.metrics, hard, distilled, paired=paired)}</div>",
                    unsafe_allow_html=True)
    if paired is not None:
        repeated = app.experiment_result(repeat_key(job)) if job.settings.get("method", "kd") == "kd" else None
        chart = app.memo.get(("gain-chart", job.key, repeated is not None),
                             lambda: gain_chart(paired.as_dict(), repeated, seed=job.settings.get("seed")))
        st.plotly_chart(chart, width="stretch", key=f"gain-{job.key}-{repeated is not None}")
        st.caption(f"Distilled − labels on the same {paired.n:,} test images: **{paired.words()}** (an exact interval "
                   f"from the {paired.only_a + paired.only_b} images only one of the two gets right, Clopper–Pearson on "
                   f"how they split; it excludes 0 exactly when McNemar's exact test does: p = {paired.p_value:.2g})."
                   + ("" if repeated is None else f"  \nOver {REPEATS} seeds: **{repeated['words']}**."))
    st.page_link("app_pages/compare.py", label="Compare all models in detail", icon=":material/leaderboard:")


def repeat_section(job) -> None:
    """The finished pair repeated over 5 seeds, as a background job; its mean ± spread joins the gain chart."""
    if job is None or job.status != "finished" or job.dataset_name != data.name or info_for(job) is None:
        return
    if job.settings.get("method", "kd") != "kd":
        st.caption("Repeating over seeds is there for logit KD (the lesson's method).")
        return
    key = repeat_key(job)
    done = app.experiment_result(key)
    mine = [j for j in app.experiment_jobs("seeds") if j.result_key == key]
    busy = app.running_job()
    c = st.columns([1, 3])
    go = c[0].button(f"Repeat over {REPEATS} seeds", disabled=busy is not None or done is not None,
                     key=f"repeat-{job.key}", width="stretch")
    c[1].caption(f"One run is one sample: the same pair with seeds {job.settings['seed']}…"
                 f"{int(job.settings['seed']) + REPEATS - 1} shows how much of the gain is the seed's luck."
                 + ("  \nDone: its mean ± spread is on the chart above." if done is not None else ""))
    if go and busy is None and done is None:
        config = seed_repeat.SeedsConfig(**{**repeat_settings(job), "seeds": tuple(repeat_settings(job)["seeds"])},
                                         device=ss.device)
        label = f"{job.label} · seeds {config.seeds[0]}…{config.seeds[-1]}"
        app.start_experiment("seeds", key, label, experiment_task("seeds", "lab.experiments.seeds:experiment",
                                                                  data.name, info_for(job).ref, config))
        st.rerun()
    if mine and not (mine[-1].done and done is not None):
        app.experiment_panel(mine[-1])


def info_for(job):
    return app.available_teachers().get(job.teacher_key)


app.job_panel("distill", show_result=show_pair)
repeat_section(app.latest_job("distill"))

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
