"""The run history (lab.serve.runs) on the pages: which runs to show (this browser's; everyone's only
where the server says so), one page at a time, how to name them in pickers, and comparing any of them.

Nothing crosses between students by default: a browser lists, compares and downloads only the runs it
started. `LAB_SHARED_HISTORY=1` (docs/classroom-hosting.md) lets every browser see every run (a lab on
one person's machine, a class that agreed to share); the instructor page shows the class's results
behind its key either way. No page shows where on the server the history lives.
"""
from __future__ import annotations

import logging
import os

import streamlit as st

from lab import figures
from lab.compare import comparison_row
from lab.errors import LabError
from lab.serve import runs as run_history

from .fmt import fmt_bytes

log = logging.getLogger(__name__)
PAGE_SIZE = 100  # runs read per page of "everyone's runs" (a class leaves thousands)
SHARED_ENV = "LAB_SHARED_HISTORY"


def shared_history() -> bool:
    """True when this server lets every browser see everyone's runs ($LAB_SHARED_HISTORY=1)."""
    return os.environ.get(SHARED_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def history_store() -> run_history.RunStore | None:
    """The run history ($LAB_RUNS_DB, else <data folder>/runs.sqlite3), opened once per server
    process (lab.serve.runs.open_store caches it and marks runs of a dead process incomplete).
    None if it cannot be used: training still works, it is just not recorded."""
    try:
        return run_history.open_store()
    except LabError as e:
        log.warning("the run history cannot be used: %s", e, exc_info=True)
        return None


def history_problem() -> str | None:
    """Why the history cannot be used, for a browser: the server's log has the file and the cause."""
    try:
        run_history.open_store()
    except LabError as e:
        log.warning("the run history cannot be used: %s", e)
        return ("The server's run history file cannot be opened or written; whoever runs the server finds the "
                "file and what to do in its log.")
    return None


def recorded_runs(store: run_history.RunStore, key: str, **filters) -> tuple[list, bool]:
    """One page of this browser's runs, newest first, without their curves; on a server with a shared
    history, a "Show everyone's runs" toggle (widget `key`) selects every run instead.
    ([], everyone) on failure."""
    everyone = shared_history() and st.toggle(
        "Show everyone's runs", key=key,
        help="Off: only the runs started in this browser. On: every run on this server (other students' and the "
             "command line's too): this server shares its history.")
    who = {} if everyone else {"session": st.session_state.session_key}
    try:
        total = store.count_runs(**who, **filters)
        page = 0
        if total > PAGE_SIZE:
            pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
            page = st.number_input(f"Page (of {pages}; {PAGE_SIZE} runs each, newest first)", 1, pages, 1,
                                   key=f"{key}_page") - 1
            st.caption(f"Runs {page * PAGE_SIZE + 1:,}–{min((page + 1) * PAGE_SIZE, total):,} of {total:,}.")
        return store.list_runs(**who, **filters, limit=PAGE_SIZE, offset=page * PAGE_SIZE, curves=False), everyone
    except LabError as e:
        log.warning("reading the run history failed: %s", e, exc_info=True)
        st.error(str(e))
        return [], everyone


def run_labels(runs: list) -> dict[int, str]:
    """{run id: "run 7 · distilled · student-mlp · finished · 91.2%"} for pickers."""
    return {r.id: f"run {r.id} · {r.kind} · {r.arch or '?'} · {r.status}" +
            (f" · {r.metrics['test_accuracy']:.1%}" if isinstance(r.metrics.get("test_accuracy"), (int, float)) else "")
            for r in runs}


def compare_recorded(runs: list, key: str, labels: dict[int, str] | None = None, store=None) -> list:
    """Pick recorded runs (multiselect `key`) and compare them: one table of their numbers and
    their learning curves on one chart. Used by the History and the Compare pages. Returns the picked runs."""
    import pandas as pd  # deferred on purpose: Streamlit no longer imports pandas, only this table needs it
    labels = labels or run_labels(runs)
    picked = st.multiselect("Runs to compare", list(labels), format_func=labels.get, key=key,
                            max_selections=8, placeholder="Pick two or more runs")
    chosen = [r for r in runs if r.id in picked]
    if not chosen:
        return chosen
    store = store or history_store()
    if store is not None and not any(r.curves for r in chosen):  # the page was read without curves
        try:
            with_curves = {r.id: r for r in store.list_runs(ids=[r.id for r in chosen])}
            chosen = [with_curves.get(r.id, r) for r in chosen]
        except LabError as e:
            log.warning("reading curves failed: %s", e, exc_info=True)
    compared = pd.DataFrame([comparison_row(f"run {r.id} · {r.kind} ({r.arch})", r.kind, r.metrics) for r in chosen])
    # Recorded runs were timed at different moments under different loads: their latencies are
    # history, shown as such, and no live number sits next to them (lab.speed measures live).
    compared = compared.drop(columns=["role", "latency_ms", "images_per_s"])
    compared["bytes"] = compared["bytes"].map(fmt_bytes)
    st.dataframe(compared, hide_index=True, width="stretch", key=f"{key}_table", column_config={
        "test_accuracy": st.column_config.NumberColumn("test accuracy", format="percent"),
        "params": st.column_config.NumberColumn("parameters", format="localized"), "bytes": "size",
        "macs": st.column_config.NumberColumn("MACs / image", format="compact"),
        "recorded_latency_ms": st.column_config.NumberColumn(
            "latency when recorded (ms)", format="%.3f",
            help="History: timed when the run was made, under that moment's load. Runs timed at different "
                 "moments are not comparable; the Compare page times its models live, side by side."),
        "agreement": st.column_config.NumberColumn("agreement", format="percent"),
        "ece": st.column_config.NumberColumn("ECE", format="%.3f")})
    curves = {f"run {r.id} {r.kind}": [{"step": p.get("step", i), "loss": p.get("loss"),
                                        "train_accuracy": p.get("train_accuracy"),
                                        "test_accuracy": p.get("test_accuracy")}
                                       for i, p in enumerate(r.curves) if isinstance(p, dict)]
              for r in chosen}
    if any(curves.values()):
        st.plotly_chart(figures.training_curves(curves), width="stretch", key=f"{key}_curves")
    return chosen
