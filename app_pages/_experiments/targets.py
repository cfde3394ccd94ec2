"""Experiments 4-6 of the Experiments page: what else a student can learn from (other distillation
targets), whether its confidence is honest (calibration and agreement), and how the α/T conventions of
other code bases translate and what breaks at high T. Not a page: app_pages/experiments.py calls each
section with its ExperimentPage."""
from __future__ import annotations

import pandas as pd
import streamlit as st
import torch

from app_pages import _app as app
from lab import figures
from lab.errors import LabError
from lab.experiments import conventions, methods
from lab.experiments.common import test_logits
from lab.objectives import OBJECTIVES, explain, soft_gradient_norms
from lab.recipes import init_model


# ---------------------------------------------------------------- 4. other distillation targets

def methods_section(page) -> None:
    st.markdown("""Logits are not the only thing a teacher can pass on. The same student, from the same weights on the
same batches, learns from a different **objective** each time (chosen by name; one training loop). Attention
transfer needs a student with a spatial feature map (a CNN).""")
    with st.expander("What each target is (one paragraph and its formula each)", expanded=True):
        for name in methods.ALL_METHODS:
            st.markdown(f"- `{name}` — {explain(name)}")
    c = st.columns([2, 3])
    with c[0]:
        student = page.student_picker("x_methods_student", "student-cnn-tiny")
    with c[1]:
        chosen = page.setting(st.multiselect, "x_methods_methods", list(methods.ALL_METHODS), "Targets",
                              list(OBJECTIVES))
    T, alpha, epochs = page.kd_inputs("x_methods", epochs=methods.MethodsConfig.epochs)
    # the targets differ by about one run's noise: every one is trained on several seeds (three at least)
    seeds = page.setting(st.number_input, "x_methods_seeds", len(methods.MethodsConfig.seeds), "Seeds", 3, 5)
    settings = dict(methods=tuple(chosen), student=student, temperature=T, alpha=alpha, epochs=epochs,
                    seeds=tuple(range(int(seeds))))
    config = page.make_config(methods.MethodsConfig, **settings) if chosen else None
    if not chosen:
        st.warning("Pick at least one target.")
    runs = methods.total_runs(config) if config is not None else 0
    methods_run(page, "methods", settings, config, f"{student}: {len(chosen)} targets × {int(seeds)} seeds, {epochs} "
                                                   f"epochs — {runs} training runs (labels only always among them)")


def methods_run(page, name: str, settings: dict, config, label: str) -> None:
    def show(result):
        def versus_labels(r):  # the paired gain over the labels-only student of the same seeds, on the same images
            if "gain" not in r:
                return {"vs labels (points)": None, "95 % CI": "the baseline" if r["method"] == "labels" else "",
                        "noise": ""}
            return {"vs labels (points)": 100 * r["gain"],
                    "95 % CI": f"{100 * r['gain_low']:+.1f} to {100 * r['gain_high']:+.1f}",
                    "noise": "within noise" if r["gain_within_noise"] else "beyond noise"}
        st.dataframe(pd.DataFrame([{"target": r["method"], "test accuracy": r["test_accuracy"], **versus_labels(r),
                                    "agreement with teacher": r.get("agreement"), "ECE": r["ece"],
                                    "mean confidence": r["mean_confidence"]} for r in result["methods"]]),
                     hide_index=True, width="stretch",
                     column_config={**{c: st.column_config.NumberColumn(format="percent")
                                       for c in ("test accuracy", "agreement with teacher", "mean confidence")},
                                    "vs labels (points)": st.column_config.NumberColumn(format="%+.1f")})
        seeds = result.get("seeds", [result.get("seed", 0)])
        st.caption(f"Means over {len(seeds)} seed{'s' if len(seeds) != 1 else ''} (every target of a seed from the "
                   "same initial weights). The gain over labels only is paired: each seed's student against the "
                   "labels-only one of the same seed, on the same test images — "
                   + ("an exact interval (one seed)." if len(seeds) == 1 else
                      "a bootstrap over the test images, each image's seeds kept together."))
        st.plotly_chart(figures.methods_bars(result), width="stretch", key=f"x-{name}-bars")

    page.run_block(name, settings, label, page.runner(methods.experiment, config), show)


# ---------------------------------------------------------------- 5. calibration and agreement

def calibration_section(page) -> None:
    st.markdown("""Is a model's confidence honest? In a **reliability diagram** each point is a bin of test images
with similar top-class probability: a calibrated model sits on the diagonal. **ECE** (expected calibration error)
is the average gap, weighted by how many images fall in each bin: Σ_b (n_b/N)·|accuracy_b − confidence_b|.
**Agreement** is the fraction of test images where the student predicts what the teacher predicts —
distillation changes both.""")
    c = st.columns([2, 3])
    with c[0]:
        student = page.student_picker("x_cal_student")
    T, alpha, epochs = page.kd_inputs("x_cal")
    settings = dict(student=student, temperature=T, alpha=alpha, epochs=epochs, seeds=(0,))  # a diagram, not a ranking
    config = page.make_config(methods.MethodsConfig, **settings)

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

    page.run_block("calibration", settings, f"{student}: labels vs distilled, {epochs} epochs — 2 training runs",
                   page.runner(methods.calibration, config), show)


# ---------------------------------------------------------------- 6. conventions and what breaks

@st.cache_resource(show_spinner=False)
def _untrained_logits(arch: str, dataset_name: str, _data) -> torch.Tensor:
    """Cached per (student, dataset name); `_data` (the dataset itself) is not hashed."""
    return test_logits(init_model(arch, _data, 0), _data)


def conventions_section(page) -> None:
    data, teacher = page.data, page.teacher
    st.markdown("""Code bases weight the two terms differently. This lab and Hinton et al. put **α on the soft
targets**; Keras and torchdistill put **α on the hard-label term**; the PyTorch tutorial uses **two separate weights**
(and soft-target cross-entropy, which has the same gradients as KL). Copying "α = 0.9" from one into another silently
flips the experiment. Convert a setting here:""")
    names = list(conventions.CONVENTIONS)
    c = st.columns(2)
    with c[0]:
        source = page.setting(st.selectbox, "x_conv_from", "keras", "From", names)
        st.caption(conventions.DESCRIPTIONS[source])
        T = page.setting(st.number_input, "x_conv_T", 4.0, "Temperature T", 0.1, 100.0, step=0.5)
        values = {"temperature": T}
        for field in conventions.CONVENTIONS[source]:
            default = {"alpha": 0.1, "beta": 0.9, "soft_target_loss_weight": 0.25, "ce_loss_weight": 0.75}[field]
            values[field] = page.setting(st.number_input, f"x_conv_{field}", default, field, 0.0, 100.0, step=0.05)
    with c[1]:
        target = page.setting(st.selectbox, "x_conv_to", "hinton", "To", names)
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
        student = page.student_picker("x_break_student")
    with c[1]:
        T_line = app.temperature_slider("Temperature T (marked on the chart)")
    temps = [1, 2, 4, 8, 16, 32]
    norms = soft_gradient_norms(_untrained_logits(student, data.name, data), teacher.test_logits, temps)
    st.plotly_chart(figures.gradient_norms(norms, T_line), width="stretch", key="x-break-gradients")
    t = st.columns(4)
    with t[0]:
        no_t2 = page.setting(st.toggle, "x_break_no_t2", True, "train without T²")
    with t[1]:
        kl_mean = page.setting(st.toggle, "x_break_kl_mean", True, "train with KL mean")
    with t[2]:
        T = page.setting(st.number_input, "x_break_T", 8.0, "Train at T", 0.5, 50.0, step=0.5)
    with t[3]:
        epochs = page.setting(st.number_input, "x_break_epochs", 6, "Epochs", 1, 50)
    chosen = ("kd",) + (("kd-no-t2",) if no_t2 else ()) + (("kd-kl-mean",) if kl_mean else ())
    settings = dict(methods=chosen, student=student, temperature=float(T), alpha=0.9, epochs=int(epochs))
    config = page.make_config(methods.MethodsConfig, **settings)
    runs = methods.total_runs(config) if config is not None else 0
    methods_run(page, "breaks", settings, config, f"{student} at T={T:g}, α=0.9: labels, {', '.join(chosen)} × "
                                                 f"{len(methods.MethodsConfig.seeds)} seeds — {runs} training runs")
