"""Draw a digit: a canvas (or an image upload), preprocessed like MNIST, and what the teacher,
the hard-label student and the distilled student make of it at T, side by side. On CIFAR-10 the
page is "Upload a photo": a photo's central square scaled to 32×32 like CIFAR-10's, the same three
answers. Below: upload a checkpoint (safetensors + JSON card) to evaluate it or to use it as the teacher."""
import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from lab import checkpoints, digits, figures, photos
from lab.errors import LabError
from lab.metrics import predict_logits
from lab.recipes import summarize
from app_pages import _app as app

data = app.dataset()
ss = st.session_state
mnist_like = tuple(data.shape) == (1, digits.SIZE, digits.SIZE)
photo_like = tuple(data.shape) == (3, photos.SIZE, photos.SIZE)
if photo_like:
    app.page_header("Upload a photo", f"Upload a photo of one of {data.name}'s classes ({', '.join(data.classes)}): "
                    "its central square is scaled down to 32×32 like the dataset's photos, and the three models say "
                    "what they see — with their soft targets at T.", ":material/add_a_photo:")
else:
    app.page_header("Draw a digit", "Draw a digit (or upload a photo of one): it is centred and scaled to 28×28 like "
                    "MNIST's digits, and the three models say what they see — with their soft targets at T.",
                    ":material/draw:")


def too_big(upload) -> None:
    if upload.size > digits.MAX_UPLOAD_BYTES:  # refused before reading it
        raise digits.ImageError(f"The image file is {upload.size / 1e6:.1f} MB; the limit is "
                                f"{digits.MAX_UPLOAD_BYTES / 1e6:.0f} MB. A small photo or a screenshot is enough.")


def read_digit(upload, canvas):
    """(28, 28) uint8 from the upload (if any), else the canvas; None with a message otherwise."""
    if upload is not None:
        too_big(upload)
        return digits.from_image_bytes(upload.getvalue())
    pixels = None if canvas is None else canvas.image_data
    strokes = (getattr(canvas, "json_data", None) or {}).get("objects")
    # Nothing drawn yet: no strokes (the canvas's white background is opaque, so pixels alone
    # cannot tell "blank" from "drawn"; a blank page must invite, not scold).
    if pixels is None or not strokes or np.asarray(pixels)[..., 3].max() == 0:
        return None
    return digits.from_canvas(pixels)


def read_photo(upload):
    """(32, 32, 3) uint8 from the uploaded photo, None before one is uploaded. PIL decodes it: never a pickle."""
    if upload is None:
        return None
    too_big(upload)
    return photos.from_photo_bytes(upload.getvalue())


def answers(batch, T: float) -> None:
    """What the teacher and the latest pair's two students make of `batch` (1, C, H, W) uint8, side by side."""
    models = []
    teacher = app.teacher_info()
    if teacher is not None:
        models.append(("teacher", f"Teacher ({teacher.label})", teacher.model))
    pairs = app.distill_jobs()
    if pairs:
        latest = pairs[-1]
        models += [("hard", f"Student on labels ({latest.runs['hard'].arch}, run {latest.id})",
                    latest.runs["hard"].model),
                   ("distilled", f"Distilled student ({latest.runs['distilled'].arch}, run {latest.id})",
                    latest.runs["distilled"].model)]
    cols = st.columns(3)
    for col, (role, title, model) in zip(cols, models):
        logits = predict_logits(model.cpu().eval(), batch, data.mean, data.std)[0]
        probs = logits.softmax(-1)
        guess = int(probs.argmax())
        with col:
            st.markdown(f"**{title}**")
            st.metric("predicts", data.classes[guess], f"{probs[guess]:.1%} sure (T = 1)", delta_color="off")
            st.plotly_chart(figures.soft_target_bars(logits, data.classes, T, height=260,
                                                     title=f"soft targets at T = {T:g}"),
                            width="stretch", key=f"draw-bars-{role}")
    if teacher is None:
        st.info("There is no teacher for this dataset yet: train one on the **Teacher** page.")
    if not pairs:
        with cols[len(models)] if len(models) < 3 else st.container():
            st.info("No students yet. Train a student pair on the **Distill** page: the hard-label and the "
                    "distilled student then appear here side by side.", icon=":material/science:")
            st.page_link("app_pages/distill.py", label="Go to the Distill page", icon=":material/science:")


if photo_like:
    left, right = st.columns([1, 2], gap="large")
    with left:
        upload = st.file_uploader("A photo (PNG, JPEG or WebP, up to "
                                  f"{digits.MAX_UPLOAD_BYTES // 2**20} MB)", key="photo_upload")
    with right:
        T = app.temperature_slider()
        try:
            photo = read_photo(upload)
        except LabError as e:  # not an image, too big
            photo = None
            app.show_error(f"**This image cannot be used.** {e}", e, icon=":material/image_not_supported:")
        else:
            if photo is None:
                st.info(f"Upload a photo of something the models know — {', '.join(data.classes)} — with the "
                        "object in the middle: the three models' answers appear here.", icon=":material/add_a_photo:")
        if photo is not None:
            c = st.columns([1, 3])
            c[0].image(figures.mosaic(photos.as_batch(photo), 1, pad=0, scale=4), width=128,
                       caption="what the models see (32×32)")
            c[1].caption("The photo's central square, scaled down to 32×32 pixels: CIFAR-10's photos are this small, "
                         "so a model trained on them sees only this. An object that fills the square reads best.")
    if photo is not None:
        answers(photos.as_batch(photo), T)
elif not mnist_like:
    st.info(f"Drawing works with the 28×28 digit datasets; **{data.name}** has {list(data.shape)} images. Pick "
            "mnist-sample (or mnist) in the sidebar. Uploading a checkpoint (below) works with any dataset.",
            icon=":material/info:")
else:
    left, right = st.columns([1, 2], gap="large")
    with left:
        canvas = st_canvas(stroke_width=18, stroke_color="#000000", background_color="#FFFFFF", height=280,
                           width=280, drawing_mode="freedraw", display_toolbar=True, key="digit_canvas")
        upload = st.file_uploader("…or upload an image of one digit (PNG or JPEG, up to "
                                  f"{digits.MAX_UPLOAD_BYTES // 2**20} MB)", key="digit_upload")
    with right:
        T = app.temperature_slider()
        try:
            digit = read_digit(upload, canvas)
        except LabError as e:  # not an image, too big, blank
            digit = None
            app.show_error(f"**This image cannot be used.** {e}", e, icon=":material/image_not_supported:")
        else:
            if digit is None:
                st.info("Draw a digit in the white box (the bin icon under it clears it), or upload an image: "
                        "the three models' answers appear here.", icon=":material/draw:")
        if digit is not None:
            c = st.columns([1, 3])
            c[0].image(figures.mosaic(digits.as_batch(digit), 1, pad=0, scale=1), width=112,
                       caption="what the models see (28×28)")
            c[1].caption("Centred by its centre of mass, the longest side scaled to 20 pixels, white ink on black: "
                         "the recipe MNIST's digits were made with (shown here dark on white).")
    if digit is not None:
        answers(digits.as_batch(digit), T)

# ---------------------------------------------------------------- upload a checkpoint
st.divider()
st.subheader("Upload a checkpoint")
# The server refuses bigger uploads itself (.streamlit/config.toml); the lab checks its own limit too.
limit_mb = min(checkpoints.MAX_BYTES // 2**20, int(st.get_option("server.maxUploadSize")))
st.markdown(f"A model trained with the lab (or downloaded from the **History** page): its `model.safetensors` "
            f"and its `model.json` card. Only safetensors is accepted (never a pickle: loading one can run code), "
            f"at most {limit_mb} MB, checked tensor by tensor against the card's architecture.")
c = st.columns(2)
weights = c[0].file_uploader("Weights (model.safetensors)", key="ckpt_weights")
card_file = c[1].file_uploader("Model card (model.json)", key="ckpt_card")
if weights is not None and card_file is None or weights is None and card_file is not None:
    st.caption("Upload both files: the weights and their card.")
if weights is not None and card_file is not None:
    ident = (weights.file_id, card_file.file_id, data.name)
    if ss.get("ckpt_checked", (None,))[0] != ident:
        try:
            if weights.size > checkpoints.MAX_BYTES:  # refused before it is parsed
                raise checkpoints.CheckpointError(
                    f"The weights file is {weights.size / 1e6:.0f} MB; the limit is {checkpoints.MAX_BYTES / 1e6:.0f} "
                    "MB and the lab's models are far smaller. Is this the right file?")
            # refuses a card for another dataset, shape or class count; the model sees its card's normalization
            model, card = checkpoints.from_upload(weights.getvalue(), card_file.getvalue(), dataset=data)
            with st.spinner("Measuring it on the test set…"):
                metrics = summarize(model, data, latency=False)
            ss.ckpt_checked = (ident, model, card, metrics, None)
        except LabError as e:
            app.panels.log.warning("an uploaded checkpoint was refused: %s", e, exc_info=True)  # shown below
            ss.ckpt_checked = (ident, None, None, None, str(e))
    _, model, card, metrics, problem = ss.ckpt_checked
    if problem:
        st.error(f"**This checkpoint cannot be used.** {app.md_text(problem)}", icon=":material/gpp_bad:")  # quotes the card
    else:
        st.success(f"**{card['arch']}** trained on {card.get('dataset', '?')}: loaded and checked.",
                   icon=":material/verified:")
        m = st.columns(4)
        m[0].metric(f"Test accuracy on {data.name}", f"{metrics['test_accuracy']:.2%}")
        m[1].metric("Parameters", f"{metrics['params']:,}")
        m[2].metric("Size on disk", app.fmt_bytes(metrics.get("bytes")))
        m[3].metric("Calibration error", f"{metrics['ece']:.3f}")
        key = f"upload-{weights.file_id[:8]}"
        if key in ss.uploaded_teachers:
            st.caption("This model is a teacher you can pick on the **Teacher** page.")
        elif st.button("Use it as the teacher", type="primary", key="ckpt_use"):
            app.add_uploaded_teacher(key, model, card, metrics, data)
            st.rerun()
