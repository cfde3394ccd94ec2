"""Distillation objectives chosen by name — what a student learns from, beyond logit KD.

Every objective has the engine's signature, `objective(model, images, labels, index) ->
(loss, logits)`, so `lab.train.train` runs them all with one loop. Whatever the teacher
contributes (logits, feature maps, attention maps) is computed once for the whole
un-augmented transfer set and indexed per batch. Objectives with trainable parts of their own
(the FitNets regressor) are `nn.Module`s: the engine trains their parameters with the model's.

    objective = make_objective("attention", student, teacher, dataset, teacher_logits)
    for event in train(student, dataset, objective, config): ...

`OBJECTIVES[name].__doc__` is the one-paragraph explanation (with its formula) the app shows.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .data import Dataset, normalize
from .errors import ConfigError
from .losses import KD_VARIANTS, HardLabels, SoftTargets, check_temperature_alpha, soft_term

class PseudoLabels:
    """**Pseudo-label ("sequence-level") distillation** (Kim & Rush 2016 for sequences). The
    teacher's top-1 prediction replaces the label: L = CE(z_s, argmax_k z_t,k). Only the
    teacher's decision is transferred, none of its uncertainty — no temperature, no dark
    knowledge — which is how large language models are often distilled (train on the
    teacher's generated outputs). It also works without any labels at all."""

    name = "pseudo-labels"

    def __init__(self, teacher_logits: torch.Tensor):
        self.teacher_labels = teacher_logits.argmax(-1)

    def __call__(self, model, images, labels, index):
        logits = model(images)
        return F.cross_entropy(logits.float(), self.teacher_labels[index]), logits


# ---------------------------------------------------------------- feature maps

def body_outputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The output of every layer of `model.body`, in order (the last is the body's output)."""
    outputs = []
    for layer in model.body:
        x = layer(x)
        outputs.append(x)
    return outputs


@torch.no_grad()
def teacher_feature_map(teacher: nn.Module, dataset: Dataset, size: int | None, batch_size: int = 500,
                        device: torch.device | None = None) -> torch.Tensor:
    """(N, C, H, W) teacher features on every training image: the deepest body output whose
    side is `size` (the student's map), else the body's last output. fp16 to halve the cache."""
    device = device or dataset.device
    teacher = teacher.to(device).eval()
    images = dataset.to(device).train_images
    parts = []
    for start in range(0, len(images), batch_size):
        x = normalize(images[start:start + batch_size], dataset.mean, dataset.std)
        maps = [m for m in body_outputs(teacher, x) if m.dim() == 4]
        same = [m for m in maps if m.shape[-1] == size]
        parts.append((same or maps)[-1].half())
    return torch.cat(parts)


def _student_map_shape(student: nn.Module, dataset: Dataset) -> torch.Size:
    was_training = student.training
    student.eval()
    with torch.no_grad():
        device = next(student.parameters()).device
        shape = student.body(torch.zeros(1, *dataset.shape, device=device)).shape
    student.train(was_training)
    return shape


def hint_layer(model: nn.Module) -> int:
    """Index in `model.body` of the FitNets hint point: the end of the *middle* block, not the last
    (RepDistiller's default `--hint_layer 2` of a five-stage feature list). A block ends at a pool,
    at a conv block not followed by a pool, or at a ReLU (an MLP's hidden layer): teacher-cnn ->
    its 64-channel block after pooling, (64, 7, 7); student-cnn-small -> (32, 7, 7); student-mlp's
    only hidden layer; a two-hidden-layer MLP's first."""
    layers = list(model.body)
    pooled_next = [isinstance(layer, nn.MaxPool2d) for layer in layers[1:]] + [False]
    ends = [i for i, layer in enumerate(layers)
            if isinstance(layer, (nn.MaxPool2d, nn.ReLU)) or (isinstance(layer, nn.Sequential) and not pooled_next[i])]
    assert ends, f"{type(model).__name__} has no block to take a hint from"
    return ends[(len(ends) - 1) // 2]


class Hint(nn.Module):
    """**Hint / feature matching** (FitNets, Romero et al. 2015). A small trainable regressor r
    maps the student's intermediate feature map F_s (the end of its middle block) to the shape of
    the teacher's F_t (the end of the teacher's middle block), and the student learns to make it
    match: L = CE(z_s, y) + β · mean((r(F_s) − F_t)²), β = 100 as in RepDistiller's FitNets recipe
    (`-a 0 -b 100`, HintLoss = MSELoss). The teacher thus guides *how* the student represents an
    image, not just what it answers. Here r is a 1×1 convolution (a linear layer for an MLP student,
    whose hidden vector is matched to the teacher's spatially averaged features), trained together
    with the student; FitNets trains in two stages (hint first, then KD) — this lab uses one stage."""

    name = "hint"

    def __init__(self, student: nn.Module, teacher: nn.Module, dataset: Dataset, weight: float = 100.0,
                 seed: int = 0):
        super().__init__()
        if not (isinstance(weight, (int, float)) and 0 <= weight < float("inf")):  # NaN fails too
            raise ConfigError(f"The hint weight must be a finite number of at least 0 (got {weight}). Try 100.")
        device = next(student.parameters()).device
        # Kept out of the module tree: the engine trains this objective's parameters, never the teacher's.
        self.__dict__["teacher"] = teacher.to(device).eval()
        self.student_layer, self.teacher_layer = hint_layer(student), hint_layer(teacher)
        with torch.no_grad():  # shapes from one blank image
            x = torch.zeros(1, *dataset.shape, device=device)
            was_training = student.training
            student_map = body_outputs(student.eval(), x)[self.student_layer]
            student.train(was_training)
            teacher_map = body_outputs(self.teacher, x)[self.teacher_layer]
        spatial = student_map.dim() == 4
        self.spatial_size = min(student_map.shape[-1], teacher_map.shape[-1]) if spatial else None
        self.weight = float(weight)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the regressor's init is part of the experiment's seed
            self.regressor = (nn.Conv2d(student_map.shape[1], teacher_map.shape[1], 1) if spatial
                              else nn.Linear(student_map.shape[1], teacher_map.shape[1]))

    @torch.no_grad()
    def teacher_features(self, images: torch.Tensor) -> torch.Tensor:
        """F_t for this batch only: (B, C_t, s, s), or (B, C_t) for an MLP student. Computed per
        batch (a partial teacher forward), so memory does not grow with the dataset."""
        if next(self.teacher.parameters()).device != images.device:  # the engine moved us, not the teacher
            self.teacher.to(images.device)
        x = images
        for i, layer in enumerate(self.teacher.body):
            x = layer(x)
            if i == self.teacher_layer:
                break
        if self.spatial_size is None:
            return x.float().mean((2, 3))
        return F.adaptive_avg_pool2d(x.float(), self.spatial_size) if x.shape[-1] != self.spatial_size else x.float()

    def forward(self, model, images, labels, index):
        outputs = body_outputs(model, images)
        logits = model.head(outputs[-1])
        student_map = outputs[self.student_layer]
        if self.spatial_size is not None and student_map.shape[-1] != self.spatial_size:
            student_map = F.adaptive_avg_pool2d(student_map, self.spatial_size)
        hint = F.mse_loss(self.regressor(student_map).float(), self.teacher_features(images))
        return F.cross_entropy(logits.float(), labels) + self.weight * hint, logits


def attention_map(features: torch.Tensor) -> torch.Tensor:
    """Zagoruyko & Komodakis' spatial attention: mean over channels of A², flattened, unit norm.
    (B, C, H, W) -> (B, H·W)"""
    return F.normalize(features.float().pow(2).mean(1).flatten(1), dim=1)


class AttentionTransfer:
    """**Attention transfer** (Zagoruyko & Komodakis 2017). Where in the image a network
    "looks" is summarized by Q = Σ_c A_c² over the channels of a feature map A, flattened and
    normalized to unit length. The student matches the teacher's map:
    L = CE(z_s, y) + (β/2) · mean_j (Q_s/‖Q_s‖ − Q_t/‖Q_t‖)²_j, with β = 1000 as in the paper's
    code. It needs only the maps' spatial sizes to agree (the channel counts may differ, no
    regressor), but it needs a spatial map: an MLP student has none."""

    name = "attention"

    def __init__(self, student: nn.Module, teacher: nn.Module, dataset: Dataset, weight: float = 1000.0):
        student_shape = _student_map_shape(student, dataset)
        if len(student_shape) != 4:
            arch = getattr(student, "arch", type(student).__name__)
            raise ConfigError(f"Attention transfer matches spatial attention maps, but {arch} has no spatial "
                              "feature map (it is not convolutional). Choose a CNN student such as "
                              "student-cnn-tiny or student-cnn-small.")
        device = next(student.parameters()).device
        features = teacher_feature_map(teacher, dataset, student_shape[-1], device=device)
        self.size = min(student_shape[-1], features.shape[-1])
        if features.shape[-1] != self.size:
            features = F.adaptive_avg_pool2d(features.float(), self.size)
        self.teacher_attention = attention_map(features)  # (N, size²): tiny, so cache only this
        self.weight = weight

    def __call__(self, model, images, labels, index):
        student_map = model.body(images)
        logits = model.head(student_map)
        if student_map.shape[-1] != self.size:
            student_map = F.adaptive_avg_pool2d(student_map, self.size)
        at = (attention_map(student_map) - self.teacher_attention[index]).pow(2).mean()
        return F.cross_entropy(logits.float(), labels) + self.weight / 2 * at, logits


OBJECTIVES = {
    "labels": HardLabels,
    "kd": SoftTargets,  # logit KD, and two slips public code shipped (lab.losses.soft_term)
    "kd-no-t2": SoftTargets,
    "kd-kl-mean": SoftTargets,
    "pseudo-labels": PseudoLabels,
    "hint": Hint,
    "attention": AttentionTransfer,
}


def explain(name: str) -> str:
    """The one-paragraph explanation (with formula) of an objective, for the app."""
    if name not in OBJECTIVES:
        raise ConfigError(f"Unknown objective {name!r}. Choose one of: {', '.join(OBJECTIVES)}.")
    return " ".join((OBJECTIVES[name].__doc__ or "").split())


def make_objective(name: str, student: nn.Module, teacher: nn.Module, dataset: Dataset,
                   teacher_logits: torch.Tensor | None, temperature: float = 4.0, alpha: float = 0.9,
                   weight: float | None = None, seed: int = 0):
    """Build an objective by name. `teacher_logits`: (N, K) on every (un-augmented) training image
    of `dataset`, on the training device; `student` must already sit on that device.

    `teacher_logits=None` means the training images change every epoch (augmentation): logit KD
    then asks the live teacher on each batch; the others read what the teacher says about the
    un-augmented images and refuse. T and α are checked where they are used (SoftTargets)."""
    if name not in OBJECTIVES:
        raise ConfigError(f"Unknown objective {name!r}. Choose one of: {', '.join(OBJECTIVES)}.")
    if name == "labels":
        return HardLabels()
    if name.startswith("kd"):
        variant = {"kd": "hinton", "kd-no-t2": "no-t2", "kd-kl-mean": "kl-mean"}[name]
        if teacher_logits is None:
            live = teacher.to(next(student.parameters()).device).eval()
            return SoftTargets(temperature, alpha, teacher=live, variant=variant)
        return SoftTargets(temperature, alpha, teacher_logits=teacher_logits, variant=variant)
    if teacher_logits is None:
        raise ConfigError(f"The {name} objective uses the teacher's outputs cached on un-augmented images: "
                          "train without augmentation (the student default), or use --method kd.")
    if name == "pseudo-labels":
        return PseudoLabels(teacher_logits)
    options = {} if weight is None else {"weight": weight}
    if name == "hint":
        return Hint(student, teacher, dataset, seed=seed, **options)
    return AttentionTransfer(student, teacher, dataset, **options)


def soft_gradient_norms(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                        temperatures=(1, 2, 4, 8, 16, 32), variants=KD_VARIANTS) -> dict:
    """‖∂ soft_term / ∂ z_s‖ (mean over images) for each variant and T: the learning signal the
    teacher sends. With T² ("hinton") it levels off as T grows (→ ‖z_s − z_t‖/K, zero-mean
    logits); without T² it falls like 1/T²; with reduction="mean" it is K times smaller."""
    if not temperatures:
        raise ConfigError("Give at least one temperature.")
    for t in temperatures:
        check_temperature_alpha(t, 0.0)
    out = {"temperatures": list(temperatures)}
    n = len(student_logits)
    for variant in variants:
        norms = []
        for t in temperatures:
            z = student_logits.detach().float().clone().requires_grad_(True)
            soft_term(z, teacher_logits.detach(), float(t), variant).backward()
            # × n: batchmean divides by the batch, so this is the per-image gradient's norm
            norms.append((z.grad * n).norm(dim=1).mean().item())
        out[variant] = norms
    return out
