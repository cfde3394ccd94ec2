"""Instructor: the whole class on this server today, live — every student pair as a point, the class
sweep filling in, the spread of gains, who waits in the queue — and one lesson link, large and as a
QR code, for everyone to open. Unlocked by a key (LAB_INSTRUCTOR_KEY or the secret instructor_key)."""
import html
from urllib.parse import urlencode, urlsplit

import pandas as pd
import streamlit as st


from lab.serve import classroom
from lab.lessons.presets import LESSONS
from app_pages import _app as app
from app_pages._app import classroom as glue

REFRESH_S = 5.0  # the class view's refresh: two indexed reads while nothing changed (glue.class_view caches)
app.page_header("Instructor", "The class on this server today, live: each student pair, the class sweep as the "
                "students fill it, the spread of their gains, and who is waiting; and one link for everyone.",
                ":material/co_present:")


key = glue.configured_key()
if key is None:
    st.info("This page is locked until an instructor key is set on the server. Start the app with "
            f"`{glue.KEY_ENV}=choose-a-key streamlit run streamlit_app.py`, or put "
            f"`{glue.KEY_SECRET} = \"choose-a-key\"` in `.streamlit/secrets.toml` (on Community Cloud: the app's "
            "Secrets settings), then enter that key here.", icon=":material/lock:")
    st.stop()
if not glue.unlocked():
    with st.form("instructor-unlock"):
        typed = st.text_input("Instructor key", type="password", help="the key set on the server")
        if st.form_submit_button("Unlock", type="primary"):
            if glue.unlock(typed):
                st.rerun()
            st.error("That is not the instructor key. Ask whoever started the server.", icon=":material/key_off:")
    st.stop()


def pct(x: float) -> str:
    return f"{100 * x:+.1f} pt"


@st.fragment(run_every=REFRESH_S)
def class_view() -> None:
    view = glue.class_view(st.session_state.get("class-filter"))
    if view is None:
        st.warning("The run history cannot be read on this server, so there is no class view. "
                   + (app.history_problem() or ""), icon=":material/database:")
        return
    queue = glue.queue(view.names)
    if len(view.choices) > 1:  # gains compare only on the same data and student
        st.selectbox("Dataset and student", view.choices, key="class-filter", format_func=lambda c: f"{c[0]} · {c[1]}",
                     index=view.choices.index((view.pairs[0].dataset or "?", view.pairs[0].student or "?")),
                     help="gains are comparable only on the same data and student")
    pairs, spread, cells = view.pairs, view.spread, view.cells
    c = st.columns(5)
    c[0].metric("Student pairs today", spread["n"])
    c[1].metric("Students", len({p.student_key for p in pairs}))
    c[2].metric("Mean gain ± sd over pairs", "—" if not spread["n"] else
                f"{100 * spread['mean']:+.1f} ± {100 * spread['sd']:.1f} pt",
                help="distilled minus labels-only accuracy, averaged over the class's pairs (their settings differ: "
                     "the heatmap shows which settings gain)")
    c[3].metric("Beyond noise: + / −", "—" if not spread["n"] else f"{spread['better']} / {spread['worse']}",
                help="pairs that gained / lost beyond their own noise (their 95 % interval excludes 0); the "
                     "others are within noise")
    c[4].metric("Waiting in the queue", sum(r["state"] == "waiting" for r in queue))
    if not pairs:
        st.info("No student pair has finished today yet. When students press **Train both students** on the "
                "Distill page, their pairs appear here within seconds.", icon=":material/hourglass_empty:")
    else:
        st.caption(":material/new_releases: Just finished: " + " · ".join(
            f"**{app.md_text(p.who)}** (T={p.temperature:g}, α={p.alpha:g}) {pct(p.gain)}"  # a name is text
            + ("" if p.low is None else ", beyond noise" if p.beyond_noise else ", within noise")
            for p in reversed(pairs[-3:])))
        left, right = st.columns(2)
        left.plotly_chart(view.figures["sweep"], width="stretch", key="class-sweep")
        left.caption("Each pair lands in its nearest cell (T on a log scale); a cell shows its pairs' mean gain in "
                     "points and how many there are. Blue: distillation helped; red: it hurt.")
        right.plotly_chart(view.figures["pairs"], width="stretch", key="class-pairs")
        st.plotly_chart(view.figures["spread"], width="stretch", key="class-spread")
        empty = [(t, a) for t, a in classroom.empty_cells(cells) if a > 0]  # α = 0 is labels only: gain 0
        if empty:
            st.caption(":material/grid_on: Still empty — ask the next students to try: "
                       + ", ".join(f"T={t:g} α={a:g}" for t, a in empty[:8]) + (" …" if len(empty) > 8 else ""))
        with st.expander(f"Every pair ({len(pairs)})"):
            st.dataframe(pd.DataFrame([{
                "student": p.who, "model": p.student, "T": p.temperature, "α": p.alpha, "method": p.method,
                "labels": f"{p.hard_accuracy:.1%}", "distilled": f"{p.distilled_accuracy:.1%}", "gain": pct(p.gain),
                "95 % interval": "—" if p.low is None else f"{pct(p.low)} to {pct(p.high)}",
                "": "" if p.low is None else "beyond noise" if p.beyond_noise else "within noise"}
                for p in reversed(pairs)]), hide_index=True, width="stretch")
    st.markdown("**Training now and waiting**")
    if queue:
        st.dataframe(pd.DataFrame([{"who": r["who"], "job": r["what"],
                                    "state": "training" if r["state"] == "training" else f"waiting · #{r['position']}"}
                                   for r in queue]), hide_index=True, width="stretch")
    else:
        st.caption("Nobody is training or waiting right now.")


def send_lesson() -> None:
    """A lesson's link, large, and as a QR code to scan from the projector."""
    current = "the setup on my pages now"
    lesson_names = {key: lesson.title for key, lesson in LESSONS.items()}
    c = st.columns([2, 3])
    chosen = c[0].selectbox("Lesson", [*lesson_names, current], format_func=lambda k: lesson_names.get(k, k),
                            key="instructor-lesson")
    here = urlsplit(st.context.url or "http://localhost:8501/")
    address = c[1].text_input("Address the students open", f"{here.scheme}://{here.netloc}/", key="instructor-address",
                              help="this server as the students' laptops reach it (its name or address on the network)")
    try:
        parts = urlsplit(address.strip())
        host = parts.hostname or ""
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address
        parts, host = None, ""
    if parts is None or parts.scheme not in ("http", "https") or not host:
        st.warning("Type the address as the students' browsers open it, e.g. http://192.168.1.20:8501/.",
                   icon=":material/link_off:")
        return
    if host in ("localhost", "127.0.0.1", "::1", "0.0.0.0"):
        st.warning(f"`{host}` is this computer only: the students' laptops cannot open it. Type the server's address "
                   "on the network (e.g. http://192.168.1.20:8501/).", icon=":material/wifi_off:")
    # A lesson opens on the Lessons page (its question comes first); a setup opens on the first page.
    if chosen == current:
        link = f"{address.strip().rstrip('/')}/?{urlencode({k: v for k, v in app.share_params().items() if k != 'instructor'})}"
    else:
        link = f"{address.strip().rstrip('/')}/lessons?{urlencode({'lesson': chosen})}"
    st.markdown(f"<p style='font-size:2.1rem; font-weight:600; word-break:break-all; line-height:1.25; "
                f"margin:0.4rem 0'>{html.escape(link)}</p>", unsafe_allow_html=True)
    st.image(classroom.qr_png(link), width=360, caption="scan to open")
    st.caption("Project this page: students scan the code or type the link. Everyone who opens it gets the same "
               "setup, and each stays a separate student (a name is optional, in the sidebar).")


live, send = st.tabs([":material/groups: The class today (live)", ":material/qr_code_2: Send everyone this lesson"])
with live:
    class_view()
with send:
    send_lesson()
