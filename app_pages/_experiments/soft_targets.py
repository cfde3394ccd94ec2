"""Experiments 1-3 of the Experiments page: what the soft targets' two knobs do (the T × α sweep), what
they carry about a class never shown (the omitted class), and how much they carry per image (data
efficiency). Not a page: app_pages/experiments.py calls each section with its ExperimentPage."""
from __future__ import annotations

import pandas as pd
import streamlit as st
import torch

from app_pages import _app as app
from lab import figures
from lab.experiments import omit, sweep, transfer_size
from lab.experiments.common import grid_runs
from lab.models import STUDENTS
from lab.recipes import STUDENT_CONFIG

TEMPERATURES = [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 20.0]
ALPHAS = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]
FRACTIONS = [0.02, 0.05, 0.1, 0.25, 0.5, 1.0]


# ---------------------------------------------------------------- 1. temperature × blend sweep

def sweep_section(page) -> None:
    data, teacher = page.data, page.teacher
    st.markdown("""Which **temperature T** and **blend α** work best? Every cell trains the same student from
the **same initial weights** on the same batches; only the loss changes. α = 0 is labels only: that column is
the **hard-label baseline**. Hinton et al. (2015) found very small students prefer T ≈ 2.5–4 while large ones
tolerate T > 8 — run it for two student sizes and compare where the best cell lands. Each cell shows its gain over
labels only with its interval; the "chosen" cell is picked on half of the test images and scored on the other half
(the best of ~30 noisy cells, scored on the images it was picked on, would flatter itself).""")
    c = st.columns([2, 1, 1])
    with c[0]:
        student = page.student_picker("x_sweep_student")
    with c[1]:
        seeds = page.setting(st.number_input, "x_sweep_seeds", 2, "Seeds", 1, 5)
    with c[2]:
        epochs = page.setting(st.number_input, "x_sweep_epochs", sweep.SweepConfig.epochs, "Epochs", 1, 50)
    c = st.columns(2)
    with c[0]:
        temps = page.setting(st.multiselect, "x_sweep_T", [1.0, 2.0, 4.0, 8.0, 16.0], "Temperatures T", TEMPERATURES)
    with c[1]:
        alphas = page.setting(st.multiselect, "x_sweep_alpha", [0.0, 0.25, 0.5, 0.75, 0.9, 1.0], "Blends α", ALPHAS)
    settings = dict(student=student, temperatures=tuple(sorted(temps)), alphas=tuple(sorted(alphas)),
                    seeds=tuple(range(int(seeds))), epochs=int(epochs))
    config = page.make_config(sweep.SweepConfig, **settings) if temps and alphas else None
    if not (temps and alphas):
        st.warning("Pick at least one temperature and one α.")
    # students of one seed that differ only in their loss train as one stacked run where they can
    runs = len(settings["seeds"]) * grid_runs(student, data, 1 + len(temps) * len([a for a in alphas if a > 0]))

    def show(result):
        best = result["best"]
        m = st.columns(3)
        m[0].metric("Labels only (α = 0)", f"{result['hard_label_mean']:.2%}")
        where = (f"Chosen on {best['selection_size']} test images, scored on the other {best['report_size']} "
                 f"(labels only there: {best['labels_report_accuracy']:.2%}): {best['gain_words']}.")
        if best["labels_only"]:
            m[1].metric("Chosen cell: labels only (α = 0)", f"{best['report_accuracy']:.2%}",
                        help=f"No distilled cell did better than labels only on the {best['selection_size']} test "
                             "images the choice is made on.")
        else:
            m[1].metric(f"Chosen cell: T={best['temperature']:g}, α={best['alpha']:g}", f"{best['report_accuracy']:.2%}",
                        delta=f"{100 * best['gain']:+.1f} points vs labels"
                              + (" · within noise" if best["gain_within_noise"] else ""),
                        delta_color="off" if best["gain_within_noise"] else "normal", help=where)
        beyond = sum(1 for c in result["cells"] if c["alpha"] > 0 and not c["gain_within_noise"])
        m[2].metric("Cells beyond noise vs labels", f"{beyond} of {sum(1 for c in result['cells'] if c['alpha'] > 0)}",
                    help="Cells with α > 0 whose paired 95 % interval of the gain over labels only excludes 0, on "
                         "all test images. Largest spread over seeds: "
                         f"{100 * max(c['spread'] for c in result['cells']):.1f} points.")
        st.caption(where)
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

    label = f"{student}: {len(temps)} T × {len(alphas)} α × {len(settings['seeds'])} seed(s), {epochs} epochs — " \
            f"{runs} training runs"
    page.run_block("sweep", settings, label, page.runner(sweep.experiment, config), show)


# ---------------------------------------------------------------- 2. the omitted class

def omit_section(page) -> None:
    data = page.data
    st.markdown("""Hinton et al. (2015, §3): distill a student on a transfer set with **no example of one class**.
From the teacher's soft targets on the *other* digits alone (a 5 that looks a bit like a 3…) it still learns much
of the missing class — but rarely predicts it, because that class's output bias was never pushed up. Raise that one
bias with the slider (no retraining: the stored test logits are simply re-scored) or press **Automatic correction**
(the offset that makes the class's predicted frequency on held-out images match its prior). For contrast, the same
student trained on the labels of the same transfer set scores ~0% on the class — and it gets the same automatic
correction, chosen the same way, so the two are compared like for like.""")
    c = st.columns([1, 2, 1, 1])
    with c[0]:
        k = page.setting(st.selectbox, "x_omit_class", min(3, data.num_classes - 1), "Omitted class",
                         list(range(data.num_classes)), format_func=lambda i: data.classes[i])
    with c[1]:  # the compact students, and Hinton's 2 × 800 net (the default: 48 units learn too little of a 3)
        default = omit.OmitConfig()
        choices = {**app.model_choices("student"), default.student: f"{default.student} · Hinton et al.'s net"}
        student = page.setting(st.selectbox, "x_omit_student", default.student, "Student", list(choices),
                               format_func=choices.get)
    with c[2]:
        T = page.setting(st.number_input, "x_omit_T", default.temperature, "Temperature T", 0.5, 50.0, step=0.5)
    with c[3]:
        epochs = page.setting(st.number_input, "x_omit_epochs", STUDENT_CONFIG.epochs, "Epochs", 1, 50)
    settings = dict(omitted_class=int(k), student=student, temperature=float(T), epochs=int(epochs))
    config = page.make_config(omit.OmitConfig, **settings)

    def show(result):
        k, name = result["class"], result["class_name"]
        logits = torch.tensor(result["test_logits"], dtype=torch.float32)
        labels = torch.tensor(result["test_labels"])
        auto = round(result["bias"] * 20) / 20  # the slider's step
        b = st.columns([5, 3, 2], vertical_alignment="bottom")  # room for the button's whole label at 1280 px
        with b[0]:
            bias = page.setting(st.slider, "x_omit_bias", 0.0, f"Bias added to class {name}'s logit", -5.0, 15.0,
                                step=0.05, help="Re-scores the stored test logits: instant, no retraining.")
        b[1].button(f"Automatic correction ({auto:+.2f})", on_click=app.set_value, args=("x_omit_bias", auto),
                    key="x-omit-auto", width="stretch",
                    help=f"Matches the predicted frequency of {name} on held-out training images to its prior "
                         f"({result['prior']:.1%}).")
        b[2].button("Reset to 0", on_click=app.set_value, args=("x_omit_bias", 0.0), key="x-omit-reset",
                    width="stretch")
        scored = omit.apply_bias(logits, labels, k, bias)
        m = st.columns(4)
        m[0].metric(f"Distilled, class {name}, no bias", f"{result['per_class_accuracy_before'][k]:.1%}")
        m[1].metric(f"Distilled, class {name}, bias {bias:+.2f}", f"{scored['per_class_accuracy'][k]:.1%}",
                    delta=f"{100 * (scored['per_class_accuracy'][k] - result['per_class_accuracy_before'][k]):+.1f} points")
        m[2].metric(f"All classes, bias {bias:+.2f}", f"{scored['accuracy']:.2%}",
                    delta=f"{100 * (scored['accuracy'] - result['accuracy_before']):+.1f} points")
        m[3].metric(f"Labels only, class {name}, no bias", f"{result['hard_label_class_accuracy']:.1%}")
        hard_bias = result.get("hard_label_bias")  # (None in a result from before both students were corrected)
        if hard_bias is not None:  # like for like: the labels-only student corrected the same way
            st.caption(f"Like for like: with its own automatic bias ({hard_bias:+.2f}, chosen the same way on the "
                       f"same held-out images) the labels-only student gets "
                       f"**{result['hard_label_class_accuracy_after']:.1%}** of class {name} "
                       f"({result['hard_label_accuracy_after']:.2%} of all test images); the distilled one, with its "
                       f"automatic bias ({result['bias']:+.2f}), **{result['per_class_accuracy_after'][k]:.1%}** "
                       f"({result['accuracy_after']:.2%}).")
        left, right = st.columns([3, 2])
        with left:
            series = {"distilled, no bias": result["per_class_accuracy_before"],
                      f"distilled, bias {bias:+.2f}": scored["per_class_accuracy"],
                      "labels only, no bias": result["hard_label_per_class_accuracy"]}
            if hard_bias is not None:
                series[f"labels only, its automatic bias {hard_bias:+.2f}"] = result["hard_label_per_class_accuracy_after"]
            st.plotly_chart(figures.per_class_bars(series, data.classes, highlight=k), width="stretch", key="x-omit-bars")
        with right:
            st.plotly_chart(figures.confusion_matrices([(f"distilled, bias {bias:+.2f}", scored["confusion_matrix"])],
                                                       data.classes), width="stretch", key="x-omit-confusion")
        shifted = ", augmented afresh each epoch as the teacher was (the teacher labels every augmented batch)" \
            if result.get("augment") else ""
        st.caption(f"Transfer set: {result['transfer_set_size']:,} training images, none of class {name}{shifted}; "
                   f"{result['held_out_size']:,} held out to choose the automatic bias. Paper (full MNIST, 60,000 "
                   "images): 206 errors, 133 on the 1,010 threes → bias +3.5 → 98.6% of threes right.")

    label = f"{student} without class {data.classes[int(k)]}, T={T:g}, {epochs} epochs — " \
            f"{grid_runs(student, data, 2)} training run(s)"
    page.run_block("omit", settings, label, page.runner(omit.experiment, config), show)


# ---------------------------------------------------------------- 3. data efficiency

def size_section(page) -> None:
    data = page.data
    st.markdown("""A label says one thing per image ("this is a 7"); the teacher's soft targets also say how much it
looks like a 1 or a 9 — **more information per example**. Train a hard-label and a distilled student on growing
fractions of the training set (stratified; every run takes the optimizer steps of a full-data run, and both students
of a fraction start from the same weights) and compare the two curves.""")
    c = st.columns([2, 3, 1])
    with c[0]:
        student = page.student_picker("x_size_student")
    with c[1]:
        fractions = page.setting(st.multiselect, "x_size_fractions", FRACTIONS, "Fractions of the training set",
                                 FRACTIONS, format_func=lambda f: f"{f:.0%}")
    with c[2]:
        seeds = page.setting(st.number_input, "x_size_seeds", len(transfer_size.TransferSizeConfig.seeds), "Seeds",
                             1, 5)
    T, alpha, epochs = page.kd_inputs("x_size")
    settings = dict(student=student, fractions=tuple(sorted(fractions)), temperature=T, alpha=alpha,
                    seeds=tuple(range(int(seeds))), epochs=epochs)
    config = page.make_config(transfer_size.TransferSizeConfig, **settings) if fractions else None
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

    label = f"{student}, {len(fractions)} fractions × {seeds} seed(s) × 2 students — " \
            f"{len(fractions) * int(seeds) * grid_runs(student, data, 2)} training runs"
    page.run_block("size", settings, label, page.runner(transfer_size.experiment, config), show)
