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

app.startup.start()        # once per server: logging, torch's thread cap, warm-ups
app.init_session()         # who this browser is, what it had before a reload, the link's settings
app.harvest()
app.reap_queue()

photos = st.session_state.get("dataset") == "cifar10"
PAGES = [
    st.Page("app_pages/concepts.py", title="Concepts", icon=":material/lightbulb:", default=True),
    st.Page("app_pages/data.py", title="Data", icon=":material/grid_view:"),
    st.Page("app_pages/teacher.py", title="Teacher", icon=":material/school:"),
    st.Page("app_pages/dark_knowledge.py", title="Dark knowledge", icon=":material/contrast:"),
    st.Page("app_pages/distill.py", title="Distill", icon=":material/science:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/leaderboard:"),
    st.Page("app_pages/experiments.py", title="Experiments", icon=":material/experiment:"),
    st.Page("app_pages/sequences.py", title="Sequences", icon=":material/spellcheck:"),
    st.Page("app_pages/history.py", title="History", icon=":material/history:"),
    st.Page("app_pages/lessons.py", title="Lessons", icon=":material/menu_book:"),
    # CIFAR-10 has no digits to draw: there the same page classifies an uploaded photo
    st.Page("app_pages/draw.py", title="Upload a photo" if photos else "Draw a digit",
            icon=":material/add_a_photo:" if photos else ":material/draw:"),
    st.Page("app_pages/instructor.py", title="Instructor", icon=":material/co_present:"),
]
page = st.navigation(PAGES)

with st.sidebar:
    st.markdown("### :material/science: Distillation Lab")
    app.bound(st.selectbox, "dataset", "Dataset", lab.DATASETS, then=app.settings.dataset_switched,
              help="mnist-sample ships with the lab and works offline; the others are read from disk or downloaded. "
                   "A switch applies the dataset's measured Distill defaults (T, α, epochs).")
    if not app.instructor_mode():
        app.bound(st.selectbox, "device", "Device", app.devices(), format_func=app.device_label,
                  help=f"auto picks CUDA, then Apple MPS, then the CPU. The app uses {app.startup.THREADS} CPU thread(s) "
                       "for training so the page stays responsive.")
    app.bound(st.toggle, "instructor", "Instructor mode",
              help="Hides advanced controls (learning rate, seed, device) so a class sees only what the lesson "
                   "is about. The setting travels in the URL.")
    app.classroom.name_field()  # optional: what the instructor's class view calls this student
    st.markdown("**Models in use**")
    app.sidebar_status()
    app.write_cookie()  # a first visit: remember this browser (the next reload restores its session)
    st.divider()
    st.caption("Hinton, Vinyals & Dean (2015), *Distilling the Knowledge in a Neural Network*, "
               "[arXiv:1503.02531](https://arxiv.org/abs/1503.02531)")

app.url_notices()  # what in the link could not be used, once
try:
    page.run()
finally:
    app.sync_query_params()  # the URL carries the experiment: a link opens the same setup
