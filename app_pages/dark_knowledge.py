"""Dark knowledge: the teacher's soft targets at T, which classes it thinks look alike."""
import numpy as np
import pandas as pd
import streamlit as st

from lab import figures
from lab.dark_knowledge import class_similarity, confusable_pairs, sweep_of
from app_pages import _app as app

app.page_header("Dark knowledge", "A trained teacher is almost always sure of the right class — but its tiny "
                "probabilities for the wrong classes say which ones look alike. Raise T to read them.")

data = app.dataset()
app.lesson_banner()
teacher = app.need_teacher()
logits, labels = teacher.test_logits, data.test_labels

c = st.columns([2, 1, 1])
with c[0]:
    T = app.temperature_slider()
with c[1]:
    log_scale = app.bound(st.toggle, "log_scale", "log scale", help="show the tiny probabilities too")
with c[2]:
    st.caption(f"Teacher: **{teacher.label}**")

st.subheader("Soft targets of chosen test images")
default = [int(np.flatnonzero(labels.numpy() == k)[0]) for k in (7, 4, 3) if k < data.num_classes]
picked = st.multiselect("Test images", list(range(len(labels))), default=default, max_selections=4,
                        format_func=lambda i: f"#{i} ({data.classes[int(labels[i])]})", key="dk_images")
cols = st.columns(max(len(picked), 1))
for col, i in zip(cols, picked):
    with col:
        st.image(figures.mosaic(data.test_images[i][None], 1, pad=0, scale=3), width=84)
        st.plotly_chart(figures.soft_target_bars(logits[i], data.classes, T, log_scale=log_scale,
                                                 title=f"#{i}: true {data.classes[int(labels[i])]}", height=280),
                        width="stretch", key=f"dk-bars-{i}")

st.subheader("Which classes look alike?")
similarity = class_similarity(logits, labels, T, data.num_classes)
left, right = st.columns([3, 2], gap="large")
with left:
    st.plotly_chart(figures.similarity_heatmap(similarity, data.classes, T), width="stretch",
                    key="dk-heatmap")
    st.caption("Row = true class, column = the teacher's mean soft target for each class at T (the diagonal, "
               "the right answer, is hidden so the rest is visible).")
with right:
    pairs = confusable_pairs(similarity, data.classes, top=6)
    st.markdown("**The most confusable pairs**")
    st.dataframe(pd.DataFrame([{"pair": p["pair"], "mean soft mass": p["mass"],
                                "→": p["a_to_b"], "←": p["b_to_a"]} for p in pairs]),
                 hide_index=True, width="stretch",
                 column_config={"mean soft mass": st.column_config.ProgressColumn(
                     format="%.4f", min_value=0, max_value=max(p["mass"] for p in pairs) if pairs else 1)})
    st.caption("→: mean probability the teacher gives the second class on images of the first; ← the reverse.")

st.subheader("How much probability sits off the top class as T grows")
a, b = st.columns(2)
with a:
    sweep = sweep_of(logits)
    st.plotly_chart(figures.temperature_sweep_figure(sweep, T, title="All test images (mean)"),
                    width="stretch", key="dk-sweep")
with b:
    st.plotly_chart(figures.off_top_by_class(similarity, data.classes, T), width="stretch", key="dk-per-class")

with st.expander("Learn more: why this helps a student"):
    st.markdown("""
A label says only "this is a 7". The teacher's soft targets say "this is a 7, a bit like a 1, slightly
like a 2, nothing like a 0". That is many more bits of information per training image: the student
learns the *shape* of the problem, not just the answers, so it generalizes better from the same data.
Hinton et al. showed a student can even recognize a digit it never saw in training, from the soft
targets alone. Too low a T hides this information; too high a T flattens everything into noise.""")
