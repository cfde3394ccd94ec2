"""Datasets and teachers, shared read-only by every session (st.cache_resource), and the
teachers one browser can use: the shipped one, those it trained, those it uploaded."""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
import torch

import lab
from lab import checkpoints
from lab.data import locate
from lab.device import pick_device
from lab.errors import LabError
from lab.metrics import predict_logits
from lab.models import STUDENTS, TEACHERS, count_params
from lab.serve import teacher_cache
from lab.serve.tasks import TeacherRef

from . import session
from .settings import set_value

log = logging.getLogger(__name__)
ASSETS = Path(__file__).resolve().parents[2] / "assets"


@st.cache_resource(show_spinner="Loading the dataset…")
def _load_dataset(name: str) -> lab.Dataset:
    return lab.load(name)


def dataset(name: str | None = None, stop_on_error: bool = True) -> lab.Dataset | None:
    """The chosen dataset (cached for every session); on failure a clear message, no traceback."""
    name = name or st.session_state.get("dataset", "mnist-sample")
    try:
        return _load_dataset(name)
    except LabError as e:
        log.warning("dataset %s cannot be loaded: %s", name, e, exc_info=True)
        st.error(f"**{name} is not available.** {unavailable_text(name, e)}")
        if stop_on_error:
            st.info("Pick **mnist-sample** in the sidebar: it ships with the lab and always works offline.")
            st.stop()
        return None


def unavailable_text(name: str, error: LabError) -> str:
    """What an app user can do. A dataset that is not on the server at all gets the app's own
    sentence (not the command line's flag, not the server's folders: those are in the log); a
    damaged file is named, since deleting it is the fix."""
    if locate(name) is None:
        return ("It is not on this server and cannot be downloaded from here. Whoever runs the server can copy "
                "its original files into the lab's data folder (see the Data page's *Learn more*).")
    return str(error)


def pretrained_dir(dataset_name: str) -> Path:
    return ASSETS / f"teacher-{dataset_name}"


@st.cache_resource(show_spinner="Loading the pretrained teacher…")
def _pretrained(dataset_name: str):
    """(model, card) of the shipped teacher, shared read-only by every session. Its test logits
    come later, from the page that needs them: the sidebar names the teacher from its card, and
    a first visit to a page without charts of it does not wait for a pass over the test set."""
    folder = pretrained_dir(dataset_name)
    if not (folder / checkpoints.CARD).is_file():
        return None
    return checkpoints.load(folder)


@st.cache_resource(show_spinner="Computing the pretrained teacher's answers…")
def _pretrained_logits(dataset_name: str) -> torch.Tensor:
    model, _ = _pretrained(dataset_name)
    data = _load_dataset(dataset_name)
    return predict_logits(model, data.test_images, data.mean, data.std)


@st.cache_resource(max_entries=16, show_spinner=False)
def _cached_teacher(folder: str, mtime: float, dataset_name: str):
    """(model, card, test logits) of a teacher in the server's cache, loaded once per server
    process and shared read-only by every session (jobs copy a teacher before moving it)."""
    model, card = checkpoints.load(folder)
    data = _load_dataset(dataset_name)
    return model, card, predict_logits(model, data.test_images, data.mean, data.std)


def from_cache(data: lab.Dataset, arch: str, config) -> tuple | None:
    """The cached teacher for this configuration (model, card, logits), or None. Never trains."""
    folder = teacher_cache.cache_folder(data, arch, config)
    weights = folder / checkpoints.WEIGHTS
    if not (folder / checkpoints.CARD).is_file() or not weights.is_file():
        return None
    try:
        return _cached_teacher(str(folder), weights.stat().st_mtime, data.name)
    except (LabError, OSError) as e:
        log.warning("teacher cache entry %s is damaged (trained again): %s", folder, e)
        return None


@dataclass
class TeacherInfo:
    """A teacher this browser can pick. One it trained reads its model and test logits from its
    job's run only when a page uses them (an old teacher's model may have left memory)."""
    key: str
    label: str
    arch: str
    loaded_model: torch.nn.Module | None
    metrics: dict
    loaded_logits: torch.Tensor | None
    dataset_name: str
    run: object = None
    folder: str | None = None       # its checkpoint on this server's disk (the shipped teacher)

    @property
    def model(self) -> torch.nn.Module:
        return self.loaded_model if self.run is None else self.run.model

    @property
    def ref(self) -> TeacherRef:
        """What a job takes to wherever it trains: the checkpoint folder when there is one (a worker
        loads it once), else the model itself (an upload exists only in this server's memory)."""
        folder = self.folder or (self.run.checkpoint if self.run is not None else None)
        if folder and (Path(folder) / checkpoints.WEIGHTS).is_file():
            return TeacherRef(str(folder))
        return TeacherRef(model=self.model)

    @property
    def test_logits(self) -> torch.Tensor:
        if self.run is None:
            if self.loaded_logits is None:  # the shipped teacher: computed once per server, when first asked
                self.loaded_logits = _pretrained_logits(self.dataset_name)
            return self.loaded_logits
        if self.run.test_logits is None:  # restored from its checkpoint, or dropped from memory
            data = _load_dataset(self.dataset_name)
            self.run.test_logits = predict_logits(self.run.model, data.test_images, data.mean, data.std)
        return self.run.test_logits


def available_teachers(dataset_name: str | None = None) -> dict[str, TeacherInfo]:
    """The teachers this browser can use on the dataset: the shipped one, then its own."""
    name = dataset_name or st.session_state.dataset
    found = {}
    pre = _pretrained(name)
    if pre is not None:
        model, card = pre
        found["pretrained"] = TeacherInfo("pretrained", f"pretrained {card['arch']}", card["arch"], model,
                                          card["metrics"], None, name, folder=str(pretrained_dir(name)))
    for key, info in session.record().uploaded_teachers.items():
        if info.dataset_name == name:
            found[key] = info
    for job in session.jobs():
        run = job.runs.get("teacher")
        if job.kind == "teacher" and job.dataset_name == name and run.metrics is not None \
                and (run.weights is not None or run.checkpoint):
            found[job.key] = TeacherInfo(job.key, f"your {run.arch} (run {job.id})", run.arch, None, run.metrics,
                                         None, name, run=run)
    return found


def add_uploaded_teacher(key: str, model: torch.nn.Module, card: dict, metrics: dict, data: lab.Dataset) -> None:
    """An uploaded, checked checkpoint becomes this browser's teacher in use."""
    logits = predict_logits(model, data.test_images, data.mean, data.std)
    session.record().uploaded_teachers[key] = TeacherInfo(key, f"uploaded {card['arch']}", card["arch"], model,
                                                          metrics, logits, data.name)
    set_value("teacher_choice", key)


def teacher_info(key: str | None = None) -> TeacherInfo | None:
    available = available_teachers()
    key = key or st.session_state.get("teacher_choice")
    return available.get(key) or next(iter(available.values()), None)


def need_teacher() -> TeacherInfo:
    """The teacher in use, or a friendly stop explaining how to get one."""
    info = teacher_info()
    if info is None:
        st.warning(f"There is no teacher for **{st.session_state.dataset}** yet. Train one on the "
                   "**Teacher** page (or pick mnist-sample, which ships with a pretrained teacher).", icon=":material/school:")
        st.page_link("app_pages/teacher.py", label="Go to the Teacher page", icon=":material/school:")
        st.stop()
    return info


def model_choices(role: str) -> dict[str, str]:
    """{name: "name · 38,170 params"} for the zoo's teachers or students on this dataset."""
    data = dataset()
    names = TEACHERS + STUDENTS if role == "teacher" else STUDENTS
    return {n: f"{n} · {_params(n, tuple(data.shape), data.num_classes):,} params" for n in names}


@functools.lru_cache(maxsize=256)
def _params(name: str, shape: tuple, num_classes: int) -> int:
    """Parameters of a zoo model, counted once per server (building every model to count them on
    every Distill/Teacher page run was a few % of the server's script-run CPU under a class)."""
    return count_params(lab.build(name, shape, num_classes))


def devices() -> list[str]:
    found = ["auto", "cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def device_label(name: str) -> str:
    return f"auto ({pick_device('auto').type})" if name == "auto" else name
