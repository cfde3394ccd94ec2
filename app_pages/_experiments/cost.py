"""Experiments 8-9 of the Experiments page (issue 12): the cost-quality frontier, and distilling a
teacher we can only query. Not a page: app_pages/experiments.py calls each section with its
ExperimentPage (`page.setting`, `page.run_block`, ...), so both run, show progress, stop, cache and
record exactly like the other experiments."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from lab import figures
from lab.experiments import blackbox, frontier
from lab.experiments.blackbox import BlackBoxConfig
from lab.experiments.frontier import FrontierConfig


def frontier_section(page) -> None:
    st.markdown("""*"A 10× smaller student keeps 80-95 % of the teacher's quality"* — measure it. A ladder of
students from about **2× to 240× fewer parameters** than the lab's teacher-cnn, each trained **on labels** and **distilled**
(same initial weights, same batches, one stacked run per seed), then every student and the teacher **timed live in
one measurement**, taking turns (batch 1 latency, batch 256 throughput). **Recovered** = distilled accuracy ÷ the
teacher's; **gap closed** = how much of the labels-only student's distance to the teacher distillation removes.""")
    c = st.columns([1, 2])
    with c[0]:
        seeds = page.setting(st.number_input, "x_front_seeds", 2, "Seeds", 1, 5)
    with c[1]:
        cnn = page.setting(st.toggle, "x_front_cnn", False, f"Add {frontier.CNN_RUNG} (few weights, many "
                           "multiply-adds; not stackable: about 3× an MLP rung's time)")
    T, alpha, epochs = page.kd_inputs("x_front")
    students = frontier.LADDER + ((frontier.CNN_RUNG,) if cnn else ())
    settings = dict(students=students, temperature=T, alpha=alpha, seeds=tuple(range(int(seeds))), epochs=epochs)
    config = page.make_config(FrontierConfig, **settings)
    runs = None if config is None else frontier.total_runs(page.data, config) - 1

    def show(result):
        teacher = result["teacher"]
        m = st.columns(3)
        m[0].metric("Teacher", f"{teacher['accuracy']:.2%}", help=f"{teacher['params']:,} parameters")
        m[1].metric("Teacher latency (batch 1)", f"{teacher['latency_ms_b1']:.3f} ms")
        best = max(result["rungs"], key=lambda r: r["distilled_mean"])
        m[2].metric(f"Best student: {best['arch']}", f"{best['distilled_mean']:.2%}",
                    delta=f"{100 * (best['distilled_mean'] - teacher['accuracy']):+.1f} points vs teacher")
        st.markdown(frontier.claim_sentence(result))
        axis = page.setting(st.segmented_control, "x_front_axis", "params", "Cost on the x axis",
                            ["params", "latency_ms_b1"], format_func={"params": "size (parameters)",
                                                                      "latency_ms_b1": "latency (batch 1)"}.get)
        st.plotly_chart(figures.frontier_chart(result, axis or "params"), width="stretch", key="x-front-chart")
        points = page.setting(st.slider, "x_front_points", 2.0, "Smallest student within N points of the teacher",
                              0.5, 20.0, step=0.5)
        for which, name in (("distilled", "distilled"), ("hard", "on labels alone")):
            pick = frontier.smallest_within(result, points, which)
            st.markdown(f"- **{name}:** " + (
                f"`{pick['arch']}` — {teacher['params'] / pick['params']:.0f}× fewer parameters, "
                f"{pick[f'{which}_mean']:.2%}, {teacher['latency_ms_b1'] / pick['latency_ms_b1']:.1f}× faster at "
                "batch 1" if pick else f"no student of this ladder is within {points:g} points of the teacher"))
        def gap_closed(r):  # only where the teacher − labels gap is beyond noise (lab.experiments.frontier)
            if r["gap_closed"] is not None and r.get("gap_closed_low") is not None:
                return f"{r['gap_closed']:.0%} ({r['gap_closed_low']:.0%} to {r['gap_closed_high']:.0%})"
            if r["gap_closed"] is not None:  # a result from before the interval
                return f"{r['gap_closed']:.0%}"
            return "gap within noise" if "within noise" in r.get("gap_closed_note", "") else "no gap"
        st.dataframe(pd.DataFrame([{
            "student": r["arch"], "parameters": r["params"], "× fewer": teacher["params"] / r["params"],
            "MACs": r["macs"], "latency (ms)": r["latency_ms_b1"], "images/s (256)": r["throughput_b256"],
            "labels": r["hard_mean"], "distilled": r["distilled_mean"], "gain (points)": 100 * r["gain"],
            "95 % CI": f"{100 * r['gain_low']:+.1f} to {100 * r['gain_high']:+.1f}",
            "recovered": r["recovered"], "gap closed (95 % CI)": gap_closed(r)} for r in result["rungs"]]),
            hide_index=True, width="stretch", column_config={
                **{k: st.column_config.NumberColumn(format="percent") for k in ("labels", "distilled", "recovered")},
                "× fewer": st.column_config.NumberColumn(format="%.1f"),
                "gain (points)": st.column_config.NumberColumn(format="%+.1f"),
                "95 % CI": st.column_config.TextColumn(help="paired over the same test images: exact for one seed, a "
                                                            "bootstrap over the images for several"),
                "gap closed (95 % CI)": st.column_config.TextColumn(
                    help="(distilled − labels) / (teacher − labels), with a bootstrap interval over the test images; "
                         "shown only where the teacher − labels gap is beyond noise (a share of a gap the data "
                         "cannot tell from 0 is noise)")})
        st.caption(f"Speeds measured live when this ran ({result['speed']['repeats']} rounds, every model in turn, "
                   f"{result['speed']['threads']} thread(s)); a cached result keeps them — press Run again to time "
                   "the models as the machine is now.")

    page.run_block("frontier", settings, f"{len(students)} students × {int(seeds)} seed(s) × (labels, distilled), "
                                         f"{epochs} epochs — {runs} training runs, then one speed measurement",
                   page.runner(frontier.experiment, config), show)


def blackbox_section(page) -> None:
    st.markdown(f"""More and more teachers can only be **queried**: an API returns the top few probabilities, or only
an answer, and charges per image. What does the student still learn? One setting at a time: **full probabilities**
(the lab's KD), **top-k** probabilities (k = 5, 2, 1; the leftover mass is {blackbox.LEFTOVER}), **only the
answer** (pseudo-labels), and **no labels of our own** (every target from the teacher). The **budget** is teacher
queries, one per image; past the whole training set each extra query is an augmented copy. The baseline: the same
student on as many *labeled* images.""")
    c = st.columns([3, 1])
    with c[0]:
        chosen = page.setting(st.multiselect, "x_bb_settings", list(blackbox.SETTINGS), "What the teacher returns",
                              list(blackbox.SETTINGS))
    with c[1]:
        seeds = page.setting(st.number_input, "x_bb_seeds", 2, "Seeds", 1, 5)
    T, alpha, epochs = page.kd_inputs("x_bb")
    settings = dict(settings=tuple(s for s in blackbox.SETTINGS if s in chosen), temperature=T, alpha=alpha,
                    seeds=tuple(range(int(seeds))), epochs=epochs)
    config = page.make_config(BlackBoxConfig, **settings) if chosen else None
    if not chosen:
        st.warning("Pick at least one setting.")
    budgets = blackbox.budgets_for(BlackBoxConfig(), len(page.data.train_labels))

    def show(result):
        st.plotly_chart(figures.blackbox_curves(result), width="stretch", key="x-bb-curves")
        rows = [{"setting": s["name"], "returns": s["returns"], "uses our labels": s["uses_labels"],
                 **{f"{b:,}": a for b, a in zip(result["budgets"], result["mean"][s["name"]])},
                 "last step, points per 1,000 queries": blackbox.next_thousand(result, s["name"])}
                for s in result["settings"]]
        rows.append({"setting": "labels only (baseline)", "returns": "—", "uses our labels": True,
                     **{f"{b:,}": a for b, a in zip(result["budgets"], result["baseline"]["mean"])},
                     "last step, points per 1,000 queries": blackbox.next_thousand(result, "labels")})
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config={
            **{f"{b:,}": st.column_config.NumberColumn(format="percent") for b in result["budgets"]},
            "last step, points per 1,000 queries": st.column_config.NumberColumn(format="%+.2f")})
        st.caption(f"Columns: teacher queries (the teacher labels that many images; {result['train_size']:,} is the "
                   f"whole training set). Mean of {len(result['seeds'])} seed(s); on {result['n_test']:,} test images "
                   "one image is " f"{100 / result['n_test']:.2g} point.")

    page.run_block("blackbox", settings, f"{len(chosen)} settings + the baseline, {len(budgets)} budgets "
                                         f"({budgets[0]:,} to {budgets[-1]:,} queries) × {int(seeds)} seed(s) — "
                                         f"{len(budgets) * int(seeds)} stacked training runs",
                   page.runner(blackbox.experiment, config), show)
