"""Lessons: a whole setup in one click (lab.lessons.presets), a question to answer before you run,
and a link that opens the same lesson for a whole class."""
from urllib.parse import urlencode

import streamlit as st

from lab.lessons.presets import LESSONS
from app_pages import _app as app

app.page_header("Lessons", "Guided experiments. Load one: the dataset, the models, T, α and the epochs are set "
                "for you. Then answer its question before you press Run: predicting first is what makes the "
                "result stick.", ":material/menu_book:")
ss = st.session_state
PAGE_TITLES = {"app_pages/dark_knowledge.py": "Dark knowledge", "app_pages/distill.py": "Distill",
               "app_pages/compare.py": "Compare", "app_pages/history.py": "History", "app_pages/draw.py": "Draw a digit",
               "app_pages/experiments.py": "Experiments"}


def share_link(params: dict) -> str:
    base = (st.context.url or "").split("?")[0] or "http://localhost:8501/"
    return f"{base}?{urlencode(params)}"


active = LESSONS.get(ss.get("lesson") or "")
if active is not None:
    with st.container(border=True):
        st.subheader(f":material/play_lesson: {active.title} is loaded")
        st.markdown(active.text)
        st.markdown(f"**Predict before you run:** {active.question}")
        kept = ss.get(f"predict_{active.key}")  # kept outside the widget: it survives page switches
        guess = st.radio("Your prediction", active.choices, label_visibility="collapsed",
                         index=active.choices.index(kept) if kept in active.choices else None)
        ss[f"predict_{active.key}"] = guess
        page = app.LESSON_PAGES[active.settings["page"]]
        if guess is None:
            st.caption("Choose an answer first; then run the experiment.")
        else:
            st.success(f"Your prediction: **{guess}**. Now run it and see.", icon=":material/psychology:")
            st.page_link(page, label=f"Go to the {PAGE_TITLES[page]} page", icon=":material/arrow_forward:")
            with st.expander("After the run: what to look at"):
                st.markdown(active.after)
        if app.lesson_teacher_needed(active):
            app.teacher_steps(active)
        if active.settings.get("hidden_class") is not None:
            k = active.settings["hidden_class"]
            st.info(f"This lesson runs on the **Experiments** page, experiment **2 · Omitted class** (already "
                    f"selected and filled in: digit {k} left out of the students' training set, T = "
                    f"{active.settings['temperature']:g}, {active.settings['epochs']} epochs). Press **Run** there: "
                    f"it trains a distilled student and, for contrast, one on labels — neither sees a single {k}.",
                    icon=":material/science:")
        st.markdown("**Share this lesson** — everyone who opens the link gets the same setup:")
        st.code(share_link(app.share_params()), language=None)

st.divider()
cols = st.columns(2)
for i, lesson in enumerate(LESSONS.values()):
    s = lesson.settings
    with cols[i % 2].container(border=True):
        st.markdown(f"#### {lesson.title}")
        st.markdown(lesson.text)
        st.caption(f"student **{s['student']}** · T = {s['temperature']:g} · α = {s['alpha']:g} · "
                   f"{s['epochs']} epochs · teacher {s['teacher']} ({s['teacher_epochs']} epochs)"
                   + (f" · digit {s['hidden_class']} hidden" if s.get("hidden_class") is not None else ""))
        c = st.columns([1, 2])
        loaded = ss.get("lesson") == lesson.key
        # A callback: it runs before the sidebar's widgets are drawn, so it may change their values.
        c[0].button("Loaded" if loaded else "Load this lesson", key=f"load_{lesson.key}",
                    type="secondary" if loaded else "primary", icon=":material/download_done:" if loaded else None,
                    on_click=app.load_lesson, args=(lesson.key,))
        c[1].caption(f"Link: `?{urlencode({'lesson': lesson.key})}`")

with st.expander("Learn more: teaching with the lab"):
    st.markdown("""
- **Instructor mode** (sidebar) hides the advanced controls (learning rate, seed, device): projected in front
  of a class, the page shows only what the lesson is about. It travels in the link (`instructor=1`).
- A link carries the whole setup (`lesson`, dataset, student, T, α, epochs, seed): paste it in the class chat.
- Every run lands in the **History**, seen only by the browser that started it; the **Instructor** page (behind
  its key) shows the whole class's pairs live.""")
