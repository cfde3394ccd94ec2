"""Experiments: *why* and *when* distillation works (issue 5). Seven experiments, each a
lab/experiments generator run in the background (app.start_experiment); a finished result is
kept in this session under its settings and teacher, so coming back is instant."""
import copy
from types import SimpleNamespace

import pandas as pd
import streamlit as st
import torch

import lab
from lab import figures
from lab.errors import LabError
from lab.experiments import conventions, ensemble, methods, omit, sweep, transfer_size
from lab.experiments.common import grid_runs, test_logits
from lab.models import STUDENTS, TEACHERS
from lab.objectives import OBJECTIVES, explain, soft_gradient_norms
from lab.recipes import STUDENT_CONFIG, init_model
from app_pages import _app as app
from app_pages import _cost_sections

EXPERIMENTS = {"sweep": "1 · T × α sweep", "omit": "2 · Omitted class", "size": "3 · Data efficiency",
               "methods": "4 · Distillation targets", "calibration": "5 · Calibration", "conventions":
               "6 · Conventions & what breaks", "ensemble": "7 · Many teachers", "frontier": "8 · Cost-quality frontier",
               "blackbox": "9 · Black-box teacher"}
TEMPERATURES = [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 20.0]
ALPHAS = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]
FRACTIONS = [0.02, 0.05, 0.1, 0.25, 0.5, 1.0]

app.page_header("Experiments", "The Distill page shows <em>that</em> a distilled student can beat one trained on "
                "labels. These nine experiments show <em>why</em>, <em>when</em> and <em>at what cost</em>: run "
                "one, watch it, change a setting, compare.")

app.lesson_banner()
data = app.dataset()
teacher = app.need_teacher()
ss = st.session_state
st.caption(f"Teacher: **{teacher.label}** · {teacher.metrics.get('test_accuracy', 0):.2%} test accuracy "
           "(change it on the Teacher page). Results are kept for this session, per teacher and settings.")


def setting(widget, name: str, default, *args, **kwargs):
    """A widget whose value survives page switches (app.bound), with this page's default."""
    ss.setdefault(name, default)
    return app.bound(widget, name, *args, **kwargs)


def student_picker(name: str, default: str = lab.DEFAULT_STUDENT, label: str = "Student") -> str:
    choices = app.model_choices("student")
    return setting(st.selectbox, name, default, label, list(choices), format_func=choices.get)


def kd_inputs(prefix: str, T: float = 4.0, alpha: float = 0.9,
              epochs: int = STUDENT_CONFIG.epochs) -> tuple[float, float, int]:
    """T, α, epochs. Epochs default to the lesson's schedule: at 6 epochs a distilled MLP gains
    nothing over labels (EXPERIMENTS.md), so a shorter default would teach the wrong lesson."""
    c = st.columns(3)
    with c[0]:
        t = setting(st.number_input, f"{prefix}_T", T, "Temperature T", 0.5, 50.0, step=0.5)
    with c[1]:
        a = setting(st.number_input, f"{prefix}_alpha", alpha, "α (soft-target weight)", 0.0, 1.0, step=0.05)
    with c[2]:
        e = setting(st.number_input, f"{prefix}_epochs", epochs, "Epochs", 1, 50)
    return float(t), float(a), int(e)


def make_config(cls, **settings):
    """The experiment's config, or a clear message (None) when the settings make no sense."""
    try:
        return cls(**settings, device=ss.device)
    except (LabError, AssertionError, ValueError, TypeError) as e:
        app.show_error(f"These settings cannot run: {e or 'an empty grid'}. Change them above.", e)
        return None


def run_block(name: str, settings: dict, label: str, make_progress, show) -> None:
    """Run button, live progress with Stop, then `show(result)` — the same for every experiment.
    `make_progress(stop, use_cache)` returns the lab generator of Progress events."""
    key = app.experiment_key(name, settings, teacher.key)
    result = app.experiment_result(key)
    jobs = app.experiment_jobs(name)
    job = jobs[-1] if jobs else None
    busy = app.running_experiment()
    c = st.columns([1, 3])
    go = c[0].button("Run" if result is None else "Run again (recompute)", key=f"run-{name}", type="primary",
                     disabled=busy is not None or make_progress is None, width="stretch")
    c[1].caption(f"{label}" + ("  \nAnother experiment is running: wait for it or stop it."
                               if busy is not None and busy.name != name else ""))
    if go and busy is None and make_progress is not None:
        use_cache = result is None
        app.start_experiment(name, key, label, lambda stop: make_progress(stop, use_cache))
        st.rerun()
    if busy is not None and busy.name != name:
        app.experiment_panel(busy)
    elif job is not None and (not job.done or job.result_key == key):
        app.experiment_panel(job)
    if result is not None:
        try:
            show(result)
        except Exception as e:  # an old or damaged result: a message, never a traceback
            app.show_error(f"This result cannot be shown ({type(e).__name__}: {e}). Press Run again to recompute it.", e)
    elif busy is None and (job is None or job.result_key != key):
        st.info("Press **Run** to start. Progress shows here; you can leave the page and come back.",
                icon=":material/play_circle:")


def teacher_copy() -> torch.nn.Module:
    return copy.deepcopy(teacher.model)  # the job's own copy: moving it never touches the shared one


# ---------------------------------------------------------------- 1. temperature × blend sweep

def sweep_section() -> None:
    st.markdown("""Which **temperature T** and **blend α** work best? Every cell trains the same student from
the **same initial weights** on the same batches; only the loss changes. α = 0 is labels only: that column is
the **hard-label baseline**. Hinton et al. (2015) found very small students prefer T ≈ 2.5–4 while large ones
tolerate T > 8 — run it for two student sizes and compare where the best cell lands.""")
    c = st.columns([2, 1, 1])
    with c[0]:
        student = student_picker("x_sweep_student")
    with c[1]:
        seeds = setting(st.number_input, "x_sweep_seeds", 2, "Seeds", 1, 5)
    with c[2]:
        epochs = setting(st.number_input, "x_sweep_epochs", sweep.SweepConfig.epochs, "Epochs", 1, 50)
    c = st.columns(2)
    with c[0]:
        temps = setting(st.multiselect, "x_sweep_T", [1.0, 2.0, 4.0, 8.0, 16.0], "Temperatures T", TEMPERATURES)
    with c[1]:
        alphas = setting(st.multiselect, "x_sweep_alpha", [0.0, 0.25, 0.5, 0.75, 0.9, 1.0], "Blends α", ALPHAS)
    settings = dict(student=student, temperatures=tuple(sorted(temps)), alphas=tuple(sorted(alphas)),
                    seeds=tuple(range(int(seeds))), epochs=int(epochs))
    config = make_config(sweep.SweepConfig, **settings) if temps and alphas else None
    if not (temps and alphas):
        st.warning("Pick at least one temperature and one α.")
    # students of one seed that differ only in their loss train as one stacked run where they can
    runs = len(settings["seeds"]) * grid_runs(student, data, 1 + len(temps) * len([a for a in alphas if a > 0]))

    def show(result):
        best = result["best"]
        m = st.columns(3)
        m[0].metric("Labels only (α = 0)", f"{result['hard_label_mean']:.2%}")
        m[1].metric(f"Best cell: T={best['temperature']:g}, α={best['alpha']:g}", f"{best['mean']:.2%}",
                    delta=f"{100 * (best['mean'] - result['hard_label_mean']):+.1f} points")
        m[2].metric("Largest spread over seeds", f"{100 * max(c['spread'] for c in result['cells']):.1f} points")
        st.plotly_chart(figures.sweep_heatmap(result), width="stretch", key="x-sweep-heatmap")
        others = {s: app.experiment_result(app.experiment_key("sweep", {**settings, "student": s}, teacher.key))
                  for s in STUDENTS}
        others = {s: r for s, r in others.items() if r is not None}
        if len(others) >= 2:
            st.plotly_chart(figures.sweep_students(others), width="stretch", key="x-sweep-students")
        else:
            other = next(s for s in STUDENTS if s != student)
            cols = st.columns([3, 1])
            cols[0].caption("Run the same grid for a second student size to compare where the best T lands.")
            cols[1].button(f"Switch to {other}", on_click=app.set_value, args=("x_sweep_student", other),
                           key="x-sweep-switch")

    make = None if config is None else (lambda stop, use_cache: sweep.experiment(data, teacher_copy(), config, stop,
                                                                               use_cache))
    run_block("sweep", settings, f"{student}: {len(temps)} T × {len(alphas)} α × {len(settings['seeds'])} seed(s), "
                                 f"{epochs} epochs — {runs} training runs", make, show)


# ---------------------------------------------------------------- 2. the omitted class

def omit_section() -> None:
    st.markdown("""Hinton et al. (2015, §3): distill a student on a transfer set with **no example of one class**.
From the teacher's soft targets on the *other* digits alone (a 5 that looks a bit like a 3…) it still learns much
of the missing class — but rarely predicts it, because that class's output bias was never pushed up. Raise that one
bias with the slider (no retraining: the stored test logits are simply re-scored) or press **Automatic correction**
(the offset that makes the class's predicted frequency on held-out images match its prior). For contrast, the same
student trained on the labels of the same transfer set scores ~0% on the class.""")
    c = st.columns([1, 2, 1, 1])
    with c[0]:
        k = setting(st.selectbox, "x_omit_class", min(3, data.num_classes - 1), "Omitted class",
                    list(range(data.num_classes)), format_func=lambda i: data.classes[i])
    with c[1]:  # the compact students, and Hinton's 2 × 800 net (the default: 48 units learn too little of a 3)
        default = omit.OmitConfig()
        choices = {**app.model_choices("student"), default.student: f"{default.student} · Hinton et al.'s net"}
        student = setting(st.selectbox, "x_omit_student", default.student, "Student", list(choices),
                          format_func=choices.get)
    with c[2]:
        T = setting(st.number_input, "x_omit_T", default.temperature, "Temperature T", 0.5, 50.0, step=0.5)
    with c[3]:
        epochs = setting(st.number_input, "x_omit_epochs", STUDENT_CONFIG.epochs, "Epochs", 1, 50)
    settings = dict(omitted_class=int(k), student=student, temperature=float(T), epochs=int(epochs))
    config = make_config(omit.OmitConfig, **settings)

    def show(result):
        k, name = result["class"], result["class_name"]
        logits = torch.tensor(result["test_logits"], dtype=torch.float32)
        labels = torch.tensor(result["test_labels"])
        auto = round(result["bias"] * 20) / 20  # the slider's step
        b = st.columns([3, 1, 1])
        with b[0]:
            bias = setting(st.slider, "x_omit_bias", 0.0, f"Bias added to class {name}'s logit", -5.0, 15.0,
                           step=0.05, help="Re-scores the stored test logits: instant, no retraining.")
        b[1].button(f"Automatic correction ({auto:+.2f})", on_click=app.set_value, args=("x_omit_bias", auto),
                    key="x-omit-auto", help=f"Matches the predicted frequency of {name} on held-out training "
                                            f"images to its prior ({result['prior']:.1%}).")
        b[2].button("Reset to 0", on_click=app.set_value, args=("x_omit_bias", 0.0), key="x-omit-reset")
        scored = omit.apply_bias(logits, labels, k, bias)
        m = st.columns(4)
        m[0].metric(f"Distilled, class {name}, no bias", f"{result['per_class_accuracy_before'][k]:.1%}")
        m[1].metric(f"Distilled, class {name}, bias {bias:+.2f}", f"{scored['per_class_accuracy'][k]:.1%}",
                    delta=f"{100 * (scored['per_class_accuracy'][k] - result['per_class_accuracy_before'][k]):+.1f} points")
        m[2].metric(f"All classes, bias {bias:+.2f}", f"{scored['accuracy']:.2%}",
                    delta=f"{100 * (scored['accuracy'] - result['accuracy_before']):+.1f} points")
        m[3].metric(f"Labels only, class {name}", f"{result['hard_label_class_accuracy']:.1%}")
        left, right = st.columns([3, 2])
        with left:
            series = {"distilled, no bias": result["per_class_accuracy_before"],
                      f"distilled, bias {bias:+.2f}": scored["per_class_accuracy"],
                      "labels only (contrast)": result["hard_label_per_class_accuracy"]}
            st.plotly_chart(figures.per_class_bars(series, data.classes, highlight=k), width="stretch", key="x-omit-bars")
        with right:
            st.plotly_chart(figures.confusion_matrices([(f"distilled, bias {bias:+.2f}", scored["confusion_matrix"])],
                                                       data.classes), width="stretch", key="x-omit-confusion")
        shifted = ", augmented afresh each epoch as the teacher was (the teacher labels every augmented batch)" \
            if result.get("augment") else ""
        st.caption(f"Transfer set: {result['transfer_set_size']:,} training images, none of class {name}{shifted}; "
                   f"{result['held_out_size']:,} held out to choose the automatic bias. Paper (full MNIST, 60,000 "
                   "images): 206 errors, 133 on the 1,010 threes → bias +3.5 → 98.6% of threes right.")

    make = None if config is None else (lambda stop, use_cache: omit.experiment(data, teacher_copy(), config, stop,
                                                                              use_cache))
    run_block("omit", settings, f"{student} without class {data.classes[int(k)]}, T={T:g}, {epochs} epochs — "
                                f"{grid_runs(student, data, 2)} training run(s)", make, show)


# ---------------------------------------------------------------- 3. data efficiency

def size_section() -> None:
    st.markdown("""A label says one thing per image ("this is a 7"); the teacher's soft targets also say how much it
looks like a 1 or a 9 — **more information per example**. Train a hard-label and a distilled student on growing
fractions of the training set (stratified; every run takes the optimizer steps of a full-data run, and both students
of a fraction start from the same weights) and compare the two curves.""")
    c = st.columns([2, 3, 1])
    with c[0]:
        student = student_picker("x_size_student")
    with c[1]:
        fractions = setting(st.multiselect, "x_size_fractions", FRACTIONS, "Fractions of the training set", FRACTIONS,
                            format_func=lambda f: f"{f:.0%}")
    with c[2]:
        seeds = setting(st.number_input, "x_size_seeds", len(transfer_size.TransferSizeConfig.seeds), "Seeds", 1, 5)
    T, alpha, epochs = kd_inputs("x_size")
    settings = dict(student=student, fractions=tuple(sorted(fractions)), temperature=T, alpha=alpha,
                    seeds=tuple(range(int(seeds))), epochs=epochs)
    config = make_config(transfer_size.TransferSizeConfig, **settings) if fractions else None
    if not fractions:
        st.warning("Pick at least one fraction.")

    def show(result):
        st.plotly_chart(figures.data_efficiency(result), width="stretch", key="x-size-curves")
        st.dataframe(pd.DataFrame({"fraction": [f"{f:.0%}" for f in result["fractions"]],
                                   "training images": result["train_sizes"],
                                   "labels only": result["hard_accuracy"], "distilled": result["distilled_accuracy"],
                                   "gain (points)": [100 * (d - h) for d, h in zip(result["distilled_accuracy"],
                                                                                   result["hard_accuracy"])]}),
                     hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="percent")
                                    for c in ("labels only", "distilled")})

    make = None if config is None else (lambda stop, use_cache: transfer_size.experiment(
        data, teacher_copy(), config, stop, use_cache))
    run_block("size", settings, f"{student}, {len(fractions)} fractions × {seeds} seed(s) × 2 students — "
                                f"{len(fractions) * int(seeds) * grid_runs(student, data, 2)} training runs", make, show)


# ---------------------------------------------------------------- 4. other distillation targets

def methods_section() -> None:
    st.markdown("""Logits are not the only thing a teacher can pass on. The same student, from the same weights on the
same batches, learns from a different **objective** each time (chosen by name; one training loop). Attention
transfer needs a student with a spatial feature map (a CNN).""")
    with st.expander("What each target is (one paragraph and its formula each)", expanded=True):
        for name in methods.ALL_METHODS:
            st.markdown(f"- `{name}` — {explain(name)}")
    c = st.columns([2, 3])
    with c[0]:
        student = student_picker("x_methods_student", "student-cnn-tiny")
    with c[1]:
        chosen = setting(st.multiselect, "x_methods_methods", list(methods.ALL_METHODS), "Targets", list(OBJECTIVES))
    T, alpha, epochs = kd_inputs("x_methods", epochs=methods.MethodsConfig.epochs)
    settings = dict(methods=tuple(chosen), student=student, temperature=T, alpha=alpha, epochs=epochs)
    config = make_config(methods.MethodsConfig, **settings) if chosen else None
    if not chosen:
        st.warning("Pick at least one target.")
    methods_run("methods", settings, config, f"{student}: {len(chosen)} targets, {epochs} epochs — "
                                             f"{len(chosen)} training runs")


def methods_run(name: str, settings: dict, config, label: str) -> None:
    def show(result):
        st.dataframe(pd.DataFrame([{"target": r["method"], "test accuracy": r["test_accuracy"],
                                    "agreement with teacher": r.get("agreement"), "ECE": r["ece"],
                                    "mean confidence": r["mean_confidence"]} for r in result["methods"]]),
                     hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="percent")
                                    for c in ("test accuracy", "agreement with teacher", "mean confidence")})
        st.plotly_chart(figures.methods_bars(result), width="stretch", key=f"x-{name}-bars")

    make = None if config is None else (lambda stop, use_cache: methods.experiment(data, teacher_copy(), config, stop,
                                                                                 use_cache))
    run_block(name, settings, label, make, show)


# ---------------------------------------------------------------- 5. calibration and agreement

def calibration_section() -> None:
    st.markdown("""Is a model's confidence honest? In a **reliability diagram** each point is a bin of test images
with similar top-class probability: a calibrated model sits on the diagonal. **ECE** (expected calibration error)
is the average gap, weighted by how many images fall in each bin: Σ_b (n_b/N)·|accuracy_b − confidence_b|.
**Agreement** is the fraction of test images where the student predicts what the teacher predicts —
distillation changes both.""")
    c = st.columns([2, 3])
    with c[0]:
        student = student_picker("x_cal_student")
    T, alpha, epochs = kd_inputs("x_cal")
    settings = dict(student=student, temperature=T, alpha=alpha, epochs=epochs)
    config = make_config(methods.MethodsConfig, **settings)

    def show(result):
        rows = {"teacher": result["teacher"], "hard-label student": result["hard"],
                "distilled student": result["distilled"]}
        left, right = st.columns([3, 2])
        with left:
            st.plotly_chart(figures.reliability_diagram(rows), width="stretch", key="x-cal-diagram")
        with right:
            st.dataframe(pd.DataFrame([{"model": n, "test accuracy": r["test_accuracy"], "ECE": r["ece"],
                                        "mean confidence": r["mean_confidence"],
                                        "agreement with teacher": r.get("agreement", 1.0)} for n, r in rows.items()]),
                         hide_index=True, width="stretch")
            d, h = result["distilled"], result["hard"]
            st.markdown(f"The distilled student agrees with the teacher on **{d['agreement']:.1%}** of test images "
                        f"(labels only: {h['agreement']:.1%}); its ECE is **{d['ece']:.3f}** (labels only: "
                        f"{h['ece']:.3f}).")

    make = None if config is None else (lambda stop, use_cache: methods.calibration(data, teacher_copy(), config, stop,
                                                                                  use_cache))
    run_block("calibration", settings, f"{student}: labels vs distilled, {epochs} epochs — 2 training runs", make, show)


# ---------------------------------------------------------------- 6. conventions and what breaks

@st.cache_resource(show_spinner=False)
def _untrained_logits(arch: str, dataset_name: str) -> torch.Tensor:
    return test_logits(init_model(arch, data, 0), data)


def conventions_section() -> None:
    st.markdown("""Code bases weight the two terms differently. This lab and Hinton et al. put **α on the soft
targets**; Keras and torchdistill put **α on the hard-label term**; the PyTorch tutorial uses **two separate weights**
(and soft-target cross-entropy, which has the same gradients as KL). Copying "α = 0.9" from one into another silently
flips the experiment. Convert a setting here:""")
    names = list(conventions.CONVENTIONS)
    c = st.columns(2)
    with c[0]:
        source = setting(st.selectbox, "x_conv_from", "keras", "From", names)
        st.caption(conventions.DESCRIPTIONS[source])
        T = setting(st.number_input, "x_conv_T", 4.0, "Temperature T", 0.1, 100.0, step=0.5)
        values = {"temperature": T}
        for field in conventions.CONVENTIONS[source]:
            default = {"alpha": 0.1, "beta": 0.9, "soft_target_loss_weight": 0.25, "ce_loss_weight": 0.75}[field]
            values[field] = setting(st.number_input, f"x_conv_{field}", default, field, 0.0, 100.0, step=0.05)
    with c[1]:
        target = setting(st.selectbox, "x_conv_to", "hinton", "To", names)
        st.caption(conventions.DESCRIPTIONS[target])
        try:
            out = conventions.translate(values, source, target)
        except LabError as e:
            app.show_error(str(e), e)
        else:
            shown = {k: out[k] for k in conventions.CONVENTIONS[target]}
            st.markdown("**In the " + target + " convention:** " +
                        ", ".join([f"T = {out['temperature']:g}"] + [f"{k} = {v:.4g}" for k, v in shown.items()]))
            st.markdown(f"Weight on the soft term: **{out['weights']['soft']:.4g}**, on the labels: "
                        f"**{out['weights']['hard']:.4g}**.")
            if "note" in out:
                st.info(out["note"])
    st.subheader("What breaks at high T")
    st.markdown("""The soft term's gradient shrinks like 1/T²; Hinton et al. multiply it by **T²** to keep the teacher's
signal comparable as T changes. Drop the T² (several public implementations did), or let KL average over classes too
(`reduction="mean"`, PyTorch's default: K times weaker), and the student barely hears the teacher at high T. Below: the
soft term's gradient norm for an untrained student against the teacher's test logits (instant), then train with the
broken variants to see what it does to accuracy.""")
    c = st.columns([2, 3])
    with c[0]:
        student = student_picker("x_break_student")
    with c[1]:
        T_line = app.temperature_slider("Temperature T (marked on the chart)")
    temps = [1, 2, 4, 8, 16, 32]
    norms = soft_gradient_norms(_untrained_logits(student, data.name), teacher.test_logits, temps)
    st.plotly_chart(figures.gradient_norms(norms, T_line), width="stretch", key="x-break-gradients")
    t = st.columns(4)
    with t[0]:
        no_t2 = setting(st.toggle, "x_break_no_t2", True, "train without T²")
    with t[1]:
        kl_mean = setting(st.toggle, "x_break_kl_mean", True, "train with KL mean")
    with t[2]:
        T = setting(st.number_input, "x_break_T", 8.0, "Train at T", 0.5, 50.0, step=0.5)
    with t[3]:
        epochs = setting(st.number_input, "x_break_epochs", 6, "Epochs", 1, 50)
    chosen = ("kd",) + (("kd-no-t2",) if no_t2 else ()) + (("kd-kl-mean",) if kl_mean else ())
    settings = dict(methods=chosen, student=student, temperature=float(T), alpha=0.9, epochs=int(epochs))
    config = make_config(methods.MethodsConfig, **settings)
    methods_run("breaks", settings, config, f"{student} at T={T:g}, α=0.9: {', '.join(chosen)} — "
                                           f"{len(chosen)} training runs")


# ---------------------------------------------------------------- 7. many teachers -> one student

def ensemble_section() -> None:
    st.markdown("""Hinton et al. distilled an **ensemble** into one model (mixtures of experts are distilled into dense
students the same way). The ensemble predicts the mean of its members' probabilities, which usually beats every
member; its soft targets at T are the mean of the members' softmax(z/T). Three students then start from the same
weights: on labels, from the best single member, and from the ensemble.""")
    available = app.teachers()
    c = st.columns([3, 1, 2, 1])
    with c[0]:
        picked = setting(st.multiselect, "x_ens_teachers", [], "Existing teachers to include", list(available),
                         format_func=lambda k: available[k].label if k in available else k,
                         help="A much stronger member dominates the average; train similar members below.")
        picked = [k for k in picked if k in available]
    with c[1]:
        new = setting(st.number_input, "x_ens_new", 3, "New members", 0, 6)
    with c[2]:
        archs = STUDENTS + TEACHERS
        arch = setting(st.selectbox, "x_ens_arch", "student-cnn-tiny", "Member architecture", archs)
    with c[3]:
        member_epochs = setting(st.number_input, "x_ens_member_epochs", 3, "Member epochs", 1, 30)
    c = st.columns([2, 3])
    with c[0]:
        student = student_picker("x_ens_student")
    T, alpha, epochs = kd_inputs("x_ens")
    settings = dict(teachers=picked, new_members=int(new), member_arch=arch, member_epochs=int(member_epochs),
                    student=student, temperature=T, alpha=alpha, epochs=epochs)
    config = make_config(ensemble.EnsembleConfig, student=student, temperature=T, alpha=alpha, epochs=epochs)
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

    def make(stop, use_cache):
        models = [copy.deepcopy(available[k].model) for k in picked]
        return ensemble.with_new_members(data, models, config, new_members=int(new), member_arch=arch,
                                         member_epochs=int(member_epochs),
                                         member_names=[available[k].label for k in picked], stop=stop,
                                         use_cache=use_cache)

    run_block("ensemble", settings, f"{len(picked) + int(new)} members → {student}, {epochs} epochs — "
                                    f"{int(new) + 3} training runs", None if config is None else make, show)


# The issue-12 tabs live in app_pages/_cost_sections.py and use this page's helpers.
_helpers = SimpleNamespace(setting=setting, kd_inputs=kd_inputs, make_config=make_config, run_block=run_block,
                           teacher_copy=teacher_copy, data=data)
SECTIONS = {"sweep": sweep_section, "omit": omit_section, "size": size_section, "methods": methods_section,
            "calibration": calibration_section, "conventions": conventions_section, "ensemble": ensemble_section,
            "frontier": lambda: _cost_sections.frontier_section(_helpers),
            "blackbox": lambda: _cost_sections.blackbox_section(_helpers)}

last = ss.get("x_experiment") if ss.get("x_experiment") in SECTIONS else "sweep"
choice = setting(st.segmented_control, "x_experiment", "sweep", "Experiment", list(EXPERIMENTS),
                 format_func=EXPERIMENTS.get, label_visibility="collapsed")
if choice not in SECTIONS:  # clicking the selected segment again deselects it: keep showing it
    choice = ss["x_experiment"] = last
st.subheader(EXPERIMENTS[choice].split(" · ", 1)[1])
SECTIONS[choice]()
