"""History: every recorded training run (this server's SQLite run history): a sortable table,
accuracy against size across runs, filters, delete, compare any runs, and downloads."""
import datetime
import json
from pathlib import Path

import pandas as pd
import streamlit as st

from lab import checkpoints, export, figures
from lab.errors import LabError
from lab.serve.runs import STATUSES
from app_pages import _app as app

app.page_header("History", "Every model trained on this server is recorded: teachers and students, from the app and "
                "from the command line. Sort, filter, compare any of them, and download a trained model.",
                ":material/history:")

store = app.history_store()
if store is None:
    st.error(f"**The run history cannot be used.** {app.history_problem()}", icon=":material/error:")
    st.stop()
ss = st.session_state
mine = ss.session_key

recorded, everyone = app.recorded_runs(store, "history_everyone")
if not recorded:
    st.info("No runs recorded yet" + ("." if everyone else " in this browser.") + " Train a teacher or a student "
            "pair: each run appears here with its curves and numbers.", icon=":material/history:")
    st.page_link("app_pages/teacher.py", label="Train a teacher", icon=":material/school:")
    st.page_link("app_pages/distill.py", label="Train a student pair", icon=":material/science:")
    st.stop()

c = st.columns(3)
f_data = c[0].multiselect("Dataset", sorted({r.dataset for r in recorded if r.dataset}), key="history_dataset")
f_model = c[1].multiselect("Model", sorted({r.arch for r in recorded if r.arch}), key="history_model")
f_status = c[2].multiselect("Status", list(STATUSES), key="history_status")
runs = [r for r in recorded if (not f_data or r.dataset in f_data) and (not f_model or r.arch in f_model)
        and (not f_status or r.status in f_status)]
if not runs:
    st.info("No recorded run matches these filters.")
    st.stop()

rows = [r.summary() for r in runs]
table = pd.DataFrame([{"run": r["id"], "started": datetime.datetime.fromtimestamp(r["started_at"]),
                       "kind": r["kind"], "status": r["status"], "dataset": r["dataset"], "model": r["arch"],
                       "test accuracy": r["test_accuracy"], "parameters": r["params"],
                       "seconds": round(r["seconds"], 1), "yours": r["session"] == mine, "name": run.name}
                      for r, run in zip(rows, runs)])
if not everyone:
    table = table.drop(columns=["yours"])
st.dataframe(table, hide_index=True, width="stretch", key="history_table", column_config={
    "run": st.column_config.NumberColumn("run", format="%d"),
    "started": st.column_config.DatetimeColumn("started", format="YYYY-MM-DD HH:mm:ss"),
    "test accuracy": st.column_config.NumberColumn("test accuracy", format="percent"),
    "parameters": st.column_config.NumberColumn("parameters", format="localized"),
    "seconds": st.column_config.NumberColumn("seconds", format="%.1f")})
st.caption(f"{len(runs)} run{'s' if len(runs) != 1 else ''} · click a column header to sort · "
           + ("every browser's runs" if everyone else "only this browser's runs: nobody else sees them"))

st.plotly_chart(figures.history_scatter(rows), width="stretch", key="history-scatter")

labels = app.run_labels(runs)

# ---------------------------------------------------------------- compare any recorded runs
st.subheader("Compare recorded runs")
app.compare_recorded(runs, "history_compare", labels)

# ---------------------------------------------------------------- download a trained model
st.subheader("Download a trained model")


@st.cache_resource(max_entries=8, show_spinner=False)
def _checkpoint(folder: str, mtime: float):
    """(model, card) of a saved run, loaded strictly (never unpickled); cached per file version."""
    return checkpoints.load(folder)


saved = {r.id: r for r in runs if r.checkpoint}
if not saved:
    st.caption("None of these runs saved a model (a run saves one when it finishes).")
else:
    which = st.selectbox("Model", list(saved), format_func=labels.get, key="history_download")
    run = saved[which]
    try:
        folder = run.checkpoint
        model, card = _checkpoint(folder, (Path(folder) / checkpoints.WEIGHTS).stat().st_mtime)
    except (LabError, OSError) as e:
        app.show_error(f"The model of run {run.id} cannot be loaded: its files are damaged or gone.", e)
    else:
        stem = f"run-{run.id}-{card['arch']}"
        d = st.columns(3)
        d[0].download_button("Weights (.safetensors)", export.safetensors_bytes(model, card),
                             f"{stem}.safetensors", "application/octet-stream", icon=":material/download:",
                             key="dl-safetensors", width="stretch")
        d[1].download_button("Model card (.json)", json.dumps(checkpoints._finite(card), indent=2),
                             f"{stem}.json", "application/json", icon=":material/description:",
                             key="dl-card", width="stretch")
        d[2].download_button("ONNX", lambda: export.onnx_bytes(model, card), f"{stem}.onnx",
                             "application/octet-stream", icon=":material/download:", key="dl-onnx",
                             width="stretch", help="The graph includes the normalization: it takes float pixels "
                                                   "in [0, 1], shape (batch, C, H, W).")
        st.caption("The safetensors file holds weights only (no code); the card says how to rebuild the model. "
                   "Upload both on the **Draw a digit** page, or load them with `lab.checkpoints`.")

# ---------------------------------------------------------------- delete
st.subheader("Delete a run")
own = [r for r in runs if r.session == mine]
if not own:
    st.caption("You can delete the runs of this session; none is shown here.")
else:
    c = st.columns([3, 1])
    victim = c[0].selectbox("Run", [r.id for r in own], format_func=labels.get, key="history_delete",
                            label_visibility="collapsed")
    if c[1].button("Delete…", key="history_delete_ask", width="stretch"):
        ss.history_confirm = victim
    if ss.get("history_confirm") == victim:
        target = next(r for r in own if r.id == victim)
        if target.status == "running":
            st.warning("This run is still training: stop it first, then delete it.")
        else:
            st.warning(f"Delete **{labels[victim]}** from the history? This cannot be undone (a saved model file "
                       "stays on disk).", icon=":material/delete:")
            c = st.columns([1, 1, 4])
            if c[0].button("Yes, delete", type="primary", key="history_delete_yes"):
                ss.history_confirm = None
                if store.delete_run(victim, session=mine):
                    st.toast(f"Run {victim} deleted.")
                st.rerun()
            if c[1].button("Keep it", key="history_delete_no"):
                ss.history_confirm = None
                st.rerun()

with st.expander("Learn more: where the history lives"):
    st.markdown("""
- One SQLite file (`$LAB_RUNS_DB`, else `runs.sqlite3` in the data folder), shared by the app and the
  command line (`python -m lab runs` lists it; `--json` for a JSON list). WAL mode: reading never blocks training.
- A run is recorded when it starts (status **running**) and closed when it ends: **finished**, **stopped**
  or **failed**. A run whose server was killed shows as **incomplete** after the next start: never half-written.
- Finished runs save their model (safetensors + JSON card) beside the history, which is what the downloads use.""")
