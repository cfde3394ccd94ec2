"""Concepts: what distillation is, then the temperature playground (instant, no training)."""
import numpy as np
import streamlit as st

from lab import figures
from lab.dark_knowledge import temperature_sweep
from lab.metrics import predict_logits
from app_pages import _app as app

app.page_header("Concepts", "A large <b>teacher</b> network teaches a small <b>student</b> network by showing it "
                "not only the right answer, but how plausible it finds every wrong one.")

c1, c2, c3 = st.columns(3)
with c1:
    st.markdown("#### 1 · In one sentence")
    st.markdown("Train a small model to copy the **probabilities** a big model gives, not just the labels: "
                "it learns faster and better than from labels alone.")
with c2:
    st.markdown("#### 2 · The mechanism")
    st.markdown("The teacher says a sloppy **7** is 90% *7*, 9% *1*, 1% *2*. Those small numbers — "
                "*dark knowledge* — tell the student which classes look alike. A **temperature T** "
                "softens the probabilities so the small ones become visible.")
with c3:
    st.markdown("#### 3 · The math")
    st.latex(r"p_i(T) = \frac{e^{z_i/T}}{\sum_j e^{z_j/T}}")
    # Two lines: on one, the loss is wider than a third of a laptop screen and was cut off at "(1 − c".
    st.latex(r"\begin{aligned}\mathcal{L} &= \alpha\,T^2\,\mathrm{KL}\!\left(p^{t}(T)\,\|\,p^{s}(T)\right)"
             r"\\ &\quad + (1-\alpha)\,\mathrm{CE}(z^{s}, y)\end{aligned}")

with st.expander("Learn more: what T and α do, and why T²"):
    st.markdown(r"""
- **T (temperature)** divides the logits before the softmax. At T = 1 the teacher is nearly certain
  (≈ 100% on one class); as T grows the distribution flattens and the ranking of the *wrong* classes
  shows. As T → ∞ every class gets 1/K.
- **α (alpha)** is the weight of the teacher's soft targets: α = 0 is ordinary training on labels,
  α = 1 learns from the teacher only. Hinton et al. used a large α with T between 2 and 20.
- **Why T²:** the gradient of the soft term with respect to the student's logits is
  $(p^s_i(T) - p^t_i(T))/T$, and for large T that is ≈ $(z^s_i - z^t_i)/(K T^2)$. Multiplying by T²
  keeps the soft term's pull the same size whatever T you choose — in the high-T limit it is plain
  logit matching, $(z^s - z^t)/K$.
- The KL divergence is averaged **per sample** (`reduction="batchmean"`); `"mean"` would also divide by
  the number of classes and silently weaken the teacher.

*Paper:* Hinton, Vinyals & Dean (2015), **Distilling the Knowledge in a Neural Network**, arXiv:1503.02531.
The code: `lab/losses.py → distillation_loss()`.""")

st.divider()
st.subheader(":material/thermostat: Temperature playground")
st.caption("A real test image, the teacher's logits, and its softmax at the temperature you choose. Drag T: "
           "nothing trains, everything is instant.")

data = app.dataset()
teacher = app.need_teacher()

left, right = st.columns([1, 2.2], gap="large")
with left:
    index = app.image_picker(data)
    image = data.test_images[index]
    st.image(figures.mosaic(image[None], 1, pad=0, scale=7), caption=f"test image #{index} · "
             f"true class: {data.classes[int(data.test_labels[index])]}", width=196)
    T = app.temperature_slider()
    log_scale = app.bound(st.toggle, "log_scale", "log scale")
# One image's logits, not the whole test set's: this is the landing page, and CIFAR-10's teacher takes
# half a minute on two cores for its 10,000 test images (the Dark knowledge page needs them all).
model = teacher.model
logits = predict_logits(model, image[None].to(next(model.parameters()).device), data.mean, data.std)[0].cpu()
with right:
    st.plotly_chart(figures.soft_target_bars(logits, data.classes, T, log_scale=log_scale),
                    width="stretch", key="concepts-bars")

a, b = st.columns(2)
with a:
    st.plotly_chart(figures.logit_bars(logits, data.classes), width="stretch", key="concepts-logits")
with b:
    sweep = temperature_sweep(logits, np.geomspace(0.5, 50, 60))
    st.plotly_chart(figures.temperature_sweep_figure(sweep, T, title="This image: softening as T grows"),
                    width="stretch", key="concepts-sweep")
st.caption(f"Teacher: {teacher.label}. At T = {T:g} the top class keeps "
           f"{1 - temperature_sweep(logits, [T])['off_top_mass'][0]:.1%} of the probability.")
