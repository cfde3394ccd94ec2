"""The lesson's recipes, shared by the CLI, the app and the tests:

    train_teacher(dataset, ...)            -> events of one run
    distill_pair(dataset, teacher, ...)    -> ("hard" | "distilled", event) pairs: two students
                                              from the same initial weights, one on labels and
                                              one on the teacher's soft targets
    summarize(model, dataset, ...)         -> the numbers a model card and the Compare page show
"""
from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import torch

from . import checkpoints
from .data import Dataset, normalize
from .device import pick_device
from .errors import ConfigError
from .losses import HardLabels
from .metrics import evaluate, predict_logits
from .models import DEFAULT_STUDENT, DEFAULT_TEACHER, build, describe
from .objectives import make_objective
from .train import Event, TrainConfig, TrainResult, train

# Chosen so that `teacher` then `distill` with no options shows the point of the lab on
# mnist-sample: the teacher is strong, and the distilled student beats the label-trained one.
TEACHER_CONFIG = TrainConfig(epochs=10, lr=4e-3, batch_size=128, augment=True)
# Students see un-augmented images so the teacher's logits can be computed once and cached
# (a step then only indexes a tensor); both students of a pair use the same config.
STUDENT_CONFIG = TrainConfig(epochs=30, lr=5e-3, batch_size=128, augment=False)
DEFAULT_TEMPERATURE, DEFAULT_ALPHA = 4.0, 0.9


@dataclass(frozen=True)
class TeacherRecipe:
    """How a dataset's teacher is trained: the architecture and the training config."""
    arch: str
    config: TrainConfig
    why: str = ""


# CIFAR-10 (EXPERIMENTS.md, "CIFAR-10 teacher"): airbench's recipe (Jordan 2024) on two CPU cores.
# Nesterov SGD at airbench's hyperparameters for batch 1024 written for a mean loss: lr 11.5 per
# 1024 examples / (1 + 1/(1 − 0.85)) → 1.5; decay 0.0153 per 1024 examples → 1.33e-3 coupled.
_AIRBENCH = TrainConfig(epochs=10, batch_size=1024, lr=1.5, weight_decay=1.33e-3, optimizer="sgd",
                        momentum=0.85, bias_lr_scale=64.0, lookahead=True, label_smoothing=0.2, augment=True,
                        report_every=4)
TEACHER_RECIPES: dict[str, dict[str, TeacherRecipe]] = {
    "cifar10": {
        # 4 epochs: 88.5 % in 197 s on 2 cores (8 epochs reached 91.2 % but took 9 minutes under load).
        "live": TeacherRecipe("teacher-airbench-half", replace(_AIRBENCH, epochs=4),
                              "airbench's net at half width for 4 epochs: the Teacher page's run, about 88 % "
                              "in 3-4 minutes on 2 cores"),
        "shipped": TeacherRecipe("teacher-airbench", replace(_AIRBENCH, epochs=18, eval_every=3),
                                 "airbench's net and recipe, trained longer: the pretrained teacher in assets/"),
    },
}
TEACHER_RECIPE_NAMES = ("live", "shipped")

# CIFAR-10's airbench-style students (BatchNorm nets, like their teacher) train with the teacher's SGD
# recipe at batch 512 (airbench's learning rate per example), no label smoothing, un-augmented so the
# teacher's logits are cached; 30 epochs of the default run's 10,000-image transfer set (lessons/
# dataset_defaults.py) take about 70 s a student on 2 cores (EXPERIMENTS.md, "CIFAR-10": the default
# run, cached vs live teacher). Any other student (the MLP, no BatchNorm) keeps the lab's AdamW schedule.
STUDENT_RECIPES: dict[str, TrainConfig] = {
    "cifar10": replace(_AIRBENCH, epochs=30, batch_size=512, lr=0.75, label_smoothing=0.0, augment=False,
                       report_every=8, eval_every=5),  # a test pass after every epoch added ~45 s a student
}
_RECIPE_STUDENTS = "student-airbench"  # the family STUDENT_RECIPES were measured on (name prefix)


def student_recipe(dataset: str, student: str | None = None) -> TrainConfig:
    """How each student of a pair trains on `dataset` (both students of a pair use it): the dataset's
    own recipe for the students it was measured on, else the lab's STUDENT_CONFIG."""
    recipe = STUDENT_RECIPES.get(dataset)
    if recipe is None or (student is not None and not student.startswith(_RECIPE_STUDENTS)):
        return STUDENT_CONFIG
    return recipe


def teacher_recipe(dataset: str, which: str = "live") -> TeacherRecipe:
    """The teacher recipe of a dataset: CIFAR-10 has its own ("live": the Teacher page's, minutes;
    "shipped": the pretrained teacher's); the digit datasets share teacher-cnn's."""
    if which not in TEACHER_RECIPE_NAMES:
        raise ConfigError(f"Unknown teacher recipe {which!r}. Choose one of: {', '.join(TEACHER_RECIPE_NAMES)}.")
    if dataset in TEACHER_RECIPES:
        return TEACHER_RECIPES[dataset][which]
    return TeacherRecipe(DEFAULT_TEACHER, TEACHER_CONFIG, "a small CNN: minutes on digits and clothes")


def init_model(arch: str, dataset: Dataset, seed: int) -> torch.nn.Module:
    """A freshly initialized model; the same (arch, seed, training images) always gives the same
    weights. A model with a patch-whitening first layer (lab.models.AirNet) fits it to the first
    5,000 training images."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build(arch, dataset.shape, dataset.num_classes)
    if hasattr(model, "fit_whitening"):
        model.fit_whitening(normalize(dataset.train_images[:5000].cpu(), dataset.mean, dataset.std))
    return model


def train_teacher(dataset: Dataset, arch: str | None = None, config: TrainConfig | None = None,
                  stop=None) -> Iterator[Event]:
    """Train a teacher on labels; arch and config left out take the dataset's live recipe."""
    recipe = teacher_recipe(dataset.name)
    model = init_model(arch or recipe.arch, dataset, (config or recipe.config).seed)
    config = config or recipe.config
    yield from train(model, dataset, HardLabels(config.label_smoothing), config, stop)


@torch.no_grad()
def teacher_train_logits(teacher: torch.nn.Module, dataset: Dataset, device="auto") -> torch.Tensor:
    """The teacher's logits on every (un-augmented) training image, on the device: computed once
    per (teacher weights, training images, device) in this process and kept for the next caller.

    A class of students distills from one shared teacher, each job with its own copy of it: this
    forward pass over the whole training set was most of a student pair's time on a CPU. The key
    hashes the teacher's architecture and weights and the images themselves (milliseconds), so a
    copy finds its original's logits and a changed weight or dataset never finds stale ones."""
    device = pick_device(device) if isinstance(device, str) else device
    key = _logits_key(teacher, dataset, device)
    with _train_logits_lock:
        cached = _train_logits.get(key)
        if cached is not None:
            _train_logits.move_to_end(key)
            return cached.clone()  # the caller's own tensor: nothing it does reaches the next caller
    logits = stored_train_logits(teacher, key, device)
    if logits is None:
        teacher = teacher.to(device)
        logits = predict_logits(teacher, dataset.to(device).train_images, dataset.mean, dataset.std)
    with _train_logits_lock:
        _train_logits[key] = logits
        while len(_train_logits) > TRAIN_LOGITS_KEPT:
            _train_logits.popitem(last=False)
    return logits.clone()


def stored_train_logits(teacher: torch.nn.Module, key: str, device) -> torch.Tensor | None:
    """The logits a checkpoint carries beside its weights (lab.checkpoints.TRAIN_LOGITS: the shipped
    CIFAR-10 teacher's, 2 MB, which would take minutes to compute on a CPU), if they were computed for
    this very key: the same weights, training images, normalization and device. Else None."""
    path = getattr(teacher, "train_logits_file", None)
    if not path:
        return None
    from safetensors import safe_open
    try:
        with safe_open(path, framework="pt") as f:
            if (f.metadata() or {}).get("key") != key:
                return None
            logits = f.get_tensor("logits")
    except Exception:  # unreadable: compute them instead
        return None
    return logits.float().to(device) if torch.isfinite(logits).all() else None


def save_train_logits(teacher: torch.nn.Module, dataset: Dataset, folder: Path, device="cpu") -> Path:
    """Write the teacher's training-set logits beside its checkpoint in `folder`, with their key."""
    from safetensors.torch import save_file
    device = pick_device(device) if isinstance(device, str) else device
    logits = teacher_train_logits(teacher, dataset, device)
    path = Path(folder) / checkpoints.TRAIN_LOGITS
    save_file({"logits": logits.cpu().contiguous()}, str(path), metadata={"key": _logits_key(teacher, dataset, device)})
    return path


TRAIN_LOGITS_KEPT = 4  # teachers x datasets whose training logits stay in memory (a few MB each)
_train_logits: "OrderedDict[str, torch.Tensor]" = OrderedDict()
_train_logits_lock = threading.Lock()


def _logits_key(teacher: torch.nn.Module, dataset: Dataset, device: torch.device) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{teacher!r}|{device}|{dataset.mean}|{dataset.std}|{tuple(dataset.train_images.shape)}".encode())
    for name, tensor in teacher.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    digest.update(dataset.train_images.cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def distilled_objective(method: str, initial: torch.nn.Module, teacher: torch.nn.Module, dataset: Dataset,
                        temperature: float, alpha: float, config: TrainConfig,
                        teacher_logits: torch.Tensor | None = None):
    """What the distilled student of a pair learns from, chosen by name (lab.objectives.OBJECTIVES),
    with the teacher's logits on the un-augmented training images computed once (and kept, see
    `teacher_train_logits`). Augmented training has no fixed images to cache them for: the
    objective then gets none, and logit KD asks the live teacher (the others refuse)."""
    if config.augment:
        teacher_logits, device = None, pick_device(config.device)
    else:
        if teacher_logits is None:
            teacher_logits = teacher_train_logits(teacher, dataset, config.device)
        device = teacher_logits.device
    probe = copy.deepcopy(initial).to(device)  # objectives read shapes and device from it
    return make_objective(method, probe, teacher, dataset, teacher_logits, temperature, alpha, seed=config.seed)


def transfer_set(dataset: Dataset, teacher: torch.nn.Module, config: TrainConfig,
                 teacher_logits: torch.Tensor | None, transfer: int | None) -> tuple[Dataset, torch.Tensor | None]:
    """The students' training images: the first `transfer` ones (None or more than there are: all),
    and the teacher's cached logits on them. The logits are taken for the whole training set and
    sliced: that is what a shipped teacher stores (a subset's own key would miss them and cost a
    forward pass over it). The test set is unchanged."""
    if not transfer or transfer >= len(dataset.train_labels):
        return dataset, teacher_logits
    if teacher_logits is None and not config.augment:
        teacher_logits = teacher_train_logits(teacher, dataset, config.device)
    subset = dataset.subset(torch.arange(transfer))
    return subset, None if teacher_logits is None else teacher_logits[:transfer]


def distill_pair(dataset: Dataset, teacher: torch.nn.Module, student: str = DEFAULT_STUDENT,
                 temperature: float = DEFAULT_TEMPERATURE, alpha: float = DEFAULT_ALPHA,
                 config: TrainConfig = STUDENT_CONFIG, stop=None,
                 teacher_logits: torch.Tensor | None = None, method: str = "kd",
                 transfer: int | None = None) -> Iterator[tuple[str, Event]]:
    """Train the hard-label and the distilled student from one initialization, one after the other.

    Yields ("hard", event) then ("distilled", event). If the first run is stopped or diverges,
    the second does not start. `method` picks what the distilled student learns from, by name
    (lab.objectives.OBJECTIVES: "kd" = logit KD, "hint", "attention", "pseudo-labels", ...);
    the others need cached teacher logits, i.e. un-augmented training. `transfer`: both students
    learn from the first N training images only (None: all; see `transfer_set`).
    """
    dataset, teacher_logits = transfer_set(dataset, teacher, config, teacher_logits, transfer)
    initial = init_model(student, dataset, config.seed)
    objectives = {"hard": HardLabels(),
                  "distilled": distilled_objective(method, initial, teacher, dataset, temperature, alpha, config,
                                                   teacher_logits)}
    for name, objective in objectives.items():
        for event in train(copy.deepcopy(initial), dataset, objective, config, stop):
            yield name, event
        if event.kind != "finished":
            return


def summarize(model: torch.nn.Module, dataset: Dataset, result_metrics: dict | None = None,
              teacher: torch.nn.Module | None = None, latency: bool = True) -> dict:
    """Accuracy, size and speed of a trained model (what its card's `metrics` hold)."""
    device = next(model.parameters()).device
    reference = None
    if teacher is not None:
        teacher = teacher.to(device)
        reference = predict_logits(teacher, dataset.to(device).test_images, dataset.mean, dataset.std)
    quality = evaluate(model, dataset.to(device), reference)
    size = describe(model, dataset.shape, latency=latency)
    metrics = {**(result_metrics or {}), **quality, **size}
    if latency:
        metrics["latency_ms"] = size["latency_ms_b1"]
    return metrics


def save_result(folder: Path, result: TrainResult, dataset: Dataset, config: TrainConfig,
                teacher: torch.nn.Module | None = None, **extra) -> dict:
    """Measure a finished run and write its checkpoint; returns the card."""
    metrics = summarize(result.model, dataset, result.metrics, teacher)
    card = checkpoints.make_card(result.model, dataset, metrics, status=result.status,
                                 config=config.as_dict(), history=result.history, **extra)
    checkpoints.save(folder, result.model.cpu(), card)
    return card


def distill_pair_together(dataset: Dataset, teacher: torch.nn.Module, student: str = DEFAULT_STUDENT,
                          temperature: float = DEFAULT_TEMPERATURE, alpha: float = DEFAULT_ALPHA,
                          config: TrainConfig = STUDENT_CONFIG, stop=None,
                          teacher_logits: torch.Tensor | None = None, method: str = "kd",
                          transfer: int | None = None) -> Iterator[tuple[str, Event]]:
    """Like `distill_pair`, but the two students take turns, one event each: both learning
    curves grow side by side on one chart (what the app shows live). Same initial weights,
    same batches (each run has its own seeded generator), so the results equal `distill_pair`'s.
    A run that ends early (stopped, diverged) leaves the other running until it ends too.
    """
    dataset, teacher_logits = transfer_set(dataset, teacher, config, teacher_logits, transfer)
    initial = init_model(student, dataset, config.seed)
    soft = distilled_objective(method, initial, teacher, dataset, temperature, alpha, config, teacher_logits)
    runs = {"hard": train(copy.deepcopy(initial), dataset, HardLabels(), config, stop),
            "distilled": train(copy.deepcopy(initial), dataset, soft, config, stop)}
    while runs:
        for name in list(runs):
            event = next(runs[name], None)
            if event is None:
                del runs[name]
                continue
            yield name, event
            if event.done:
                del runs[name]
