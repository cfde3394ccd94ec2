"""Distillation Lab — the app. Run: streamlit run streamlit_app.py

Page config, the shared sidebar (dataset, device, the models in use) and st.navigation over
the page files in app_pages/. Each page is a short script: widgets -> lab -> lab.figures.
"""
import streamlit as st

import lab
from app_pages import _app as app

st.set_page_config(page_title="Distillation Lab", page_icon=":material/science:", layout="wide",
                   menu_items={"About": "Knowledge distillation (Hinton, Vinyals & Dean 2015), live in the browser."})

st.markdown("""<style>
.lead {font-size: 1.15rem; color: #4a4a5a; margin-top: -0.6rem; max-width: 60rem;}
[data-testid="stMetricValue"] {font-size: 1.6rem;}
.verdict {font-size: 1.25rem; padding: 0.9rem 1.1rem; border-left: 6px solid #00A884;
          background: #f1fbf7; border-radius: 0.4rem; margin: 0.5rem 0 1rem 0;}
</style>""", unsafe_allow_html=True)

app.init_session()
app.harvest()
app.reap_queue()

PAGES = [
    st.Page("app_pages/concepts.py", title="Concepts", icon=":material/lightbulb:", default=True),
    st.Page("app_pages/data.py", title="Data", icon=":material/grid_view:"),
    st.Page("app_pages/teacher.py", title="Teacher", icon=":material/school:"),
    st.Page("app_pages/dark_knowledge.py", title="Dark knowledge", icon=":material/contrast:"),
    st.Page("app_pages/distill.py", title="Distill", icon=":material/science:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/leaderboard:"),
    st.Page("app_pages/experiments.py", title="Experiments", icon=":material/experiment:"),
    st.Page("app_pages/history.py", title="History", icon=":material/history:"),
    st.Page("app_pages/lessons.py", title="Lessons", icon=":material/menu_book:"),
    st.Page("app_pages/draw.py", title="Draw a digit", icon=":material/draw:"),
]
page = st.navigation(PAGES)

with st.sidebar:
    st.markdown("### :material/science: Distillation Lab")
    app.bound(st.selectbox, "dataset", "Dataset", lab.DATASETS,
                 help="mnist-sample ships with the lab and works offline; the others are read from disk or downloaded.")
    if not app.instructor_mode():
        app.bound(st.selectbox, "device", "Device", app.devices(), format_func=app.device_label,
                  help=f"auto picks CUDA, then Apple MPS, then the CPU. The app uses {app.THREADS} CPU thread(s) "
                       "for training so the page stays responsive.")
    app.bound(st.toggle, "instructor", "Instructor mode",
              help="Hides advanced controls (learning rate, seed, device) so a class sees only what the lesson "
                   "is about. The setting travels in the URL.")
    st.markdown("**Models in use**")

    active = app.running_job()

    @st.fragment(run_every=None if active is None else app.QUEUED_POLL_S if active.status == "queued"
                 else app.SIDEBAR_POLL_S)
    def sidebar_status():
        app.touch()  # heartbeat from every page: the job knows this tab is still open
        job = app.running_job()
        info = app.teacher_info() if st.session_state.dataset else None
        if info is not None:
            acc = info.metrics.get("test_accuracy")
            st.caption(f":material/school: Teacher: **{info.label}** · {acc:.1%} test accuracy" if acc is not None
                       else f":material/school: Teacher: **{info.label}**")
        else:
            st.caption(":material/school: Teacher: none yet for this dataset")
        pairs = app.distill_jobs()
        st.caption(f":material/groups: Student pairs trained: **{len(pairs)}**")
        if job is not None and job.status == "queued":
            st.caption(f":material/hourglass_top: {app.queue_text(job)}")
            if st.button("Cancel", key="sidebar-cancel", help="leave the queue: this job will not run"):
                job.cancel()
                st.rerun()
        elif job is not None:
            done, total, _, eta = job.progress()
            st.progress(done / total if total else 0.0,
                        text=f"{'Teacher' if job.kind == 'teacher' else 'Students'}: {done}/{total} steps · "
                             f"ETA {app.fmt_seconds(eta)}")

    sidebar_status()
    st.divider()
    st.caption("Hinton, Vinyals & Dean (2015), *Distilling the Knowledge in a Neural Network*, "
               "[arXiv:1503.02531](https://arxiv.org/abs/1503.02531)")

try:
    page.run()
finally:
    app.sync_query_params()  # the URL carries the experiment: a link opens the same setup
