"""Dark knowledge: the teacher's soft targets at T, which classes it thinks look alike."""
import numpy as np
import pandas as pd
import streamlit as st

from lab import figures
from lab.dark_knowledge import KINDS, class_similarity, confusable_pairs, second_choice_kind, sweep_of
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
shown_first = {"cifar10": (3, 5, 1)}.get(data.name, (7, 4, 3))  # a cat, a dog, a car; digits 7, 4, 3
default = [int(found[0]) for k in shown_first if k < data.num_classes
           for found in [np.flatnonzero(labels.numpy() == k)] if len(found)]
# Everything below depends only on the teacher's logits and T (and the image, the scale): built
# once per server for every student at the same T (app.memo), not on every slider move.
teacher_id = app.memo.fingerprint(logits)
names = app.memo.get(("dk-image-names", data.name, teacher_id),
                     lambda: [f"#{i} ({data.classes[k]})" for i, k in enumerate(labels.tolist())])
picked = st.multiselect("Test images", list(range(len(labels))), default=default, max_selections=4,
                        format_func=names.__getitem__, key="dk_images")
cols = st.columns(max(len(picked), 1))
for col, i in zip(cols, picked):
    with col:
        st.image(app.memo.get(("dk-image", data.name, i), lambda: app.memo.png(figures.mosaic(
            data.test_images[i][None], 1, pad=0, scale=3))), width=84)
        bars = app.memo.get(("dk-bars", teacher_id, i, T, log_scale), lambda: figures.soft_target_bars(
            logits[i], data.classes, T, log_scale=log_scale, title=f"#{i}: true {data.classes[int(labels[i])]}",
            height=280))
        st.plotly_chart(bars, width="stretch", key=f"dk-bars-{i}")

st.subheader("Which classes look alike?")
similarity = app.memo.get(("dk-similarity", teacher_id, T), lambda: class_similarity(logits, labels, T,
                                                                                     data.num_classes))
left, right = st.columns([3, 2], gap="large")
with left:
    st.plotly_chart(app.memo.get(("dk-heatmap", teacher_id, T),
                                 lambda: figures.similarity_heatmap(similarity, data.classes, T)),
                    width="stretch", key="dk-heatmap")
    st.caption("Row = true class, column = the teacher's mean soft target for each class at T (the diagonal, "
               "the right answer, is hidden so the rest is visible).")
with right:
    pairs = app.memo.get(("dk-pairs", teacher_id, T), lambda: confusable_pairs(similarity, data.classes, top=6))
    st.markdown("**The most confusable pairs**")
    st.dataframe(pd.DataFrame([{"pair": p["pair"], "mean soft mass": p["mass"],
                                "→": p["a_to_b"], "←": p["b_to_a"]} for p in pairs]),
                 hide_index=True, width="stretch",
                 column_config={"mean soft mass": st.column_config.ProgressColumn(
                     format="%.4f", min_value=0, max_value=max(p["mass"] for p in pairs) if pairs else 1)})
    st.caption("→: mean probability the teacher gives the second class on images of the first; ← the reverse.")

if data.name in KINDS:
    kinds = KINDS[data.name]
    found = second_choice_kind(logits, data.classes, kinds)
    st.subheader(f"Does the teacher know which classes are of a kind ({', '.join(kinds)})?")
    c = st.columns([1, 1, 2])
    c[0].metric("Second choice of the same kind", f"{found['rate']:.1%}",
                help=f"95 % interval over the {found['n']:,} test images: {found['low']:.1%} to {found['high']:.1%}")
    c[1].metric("If the second choice were random", f"{found['chance']:.1%}")
    groups = "; ".join(f"**{name}**: {', '.join(members)}" for name, members in kinds.items())
    c[2].markdown(f"Nobody told the teacher that the classes come in kinds ({groups}). Yet on "
                  f"{found['same']:,} of {found['n']:,} test images its second choice is of the same kind as its "
                  f"first (95 % interval {found['low']:.1%} to {found['high']:.1%}), against {found['chance']:.1%} "
                  "for a runner-up picked at random among the other classes. This is the structure a student "
                  "receives through the soft targets, and never through a label.")

st.subheader("How much probability sits off the top class as T grows")
a, b = st.columns(2)
with a:
    sweep = app.memo.get(("dk-sweep", teacher_id, T), lambda: figures.temperature_sweep_figure(
        sweep_of(logits), T, title="All test images (mean)"))
    st.plotly_chart(sweep, width="stretch", key="dk-sweep")
with b:
    st.plotly_chart(app.memo.get(("dk-per-class", teacher_id, T),
                                 lambda: figures.off_top_by_class(similarity, data.classes, T)),
                    width="stretch", key="dk-per-class")

example = {"cifar10": ("a cat", "a cat, quite like a dog, a little like a deer, nothing like a truck")}.get(
    data.name, ("a 7", "a 7, a bit like a 1, slightly like a 2, nothing like a 0"))
with st.expander("Learn more: why this helps a student"):
    st.markdown(f"""
A label says only "this is {example[0]}". The teacher's soft targets say "this is {example[1]}".
That is many more bits of information per training image: the student
learns the *shape* of the problem, not just the answers, so it generalizes better from the same data.
Hinton et al. showed a student can even recognize a digit it never saw in training, from the soft
targets alone. Too low a T hides this information; too high a T flattens everything into noise.""")
