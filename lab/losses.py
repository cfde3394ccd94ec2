"""Soft targets and the distillation loss (Hinton, Vinyals & Dean 2015, "Distilling the
Knowledge in a Neural Network", arXiv:1503.02531).

The training engine does not know which loss it optimizes: it calls an *objective*,
`objective(model, images, labels, index) -> (loss, logits)`. `HardLabels` and
`SoftTargets` are the two the basic lesson needs; others plug in the same way.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .errors import ConfigError


def check_temperature_alpha(temperature: float, alpha: float) -> None:
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ConfigError(f"The temperature T must be a number above 0 (got {temperature}). Try T = 4.")
    if not (isinstance(alpha, (int, float)) and 0 <= alpha <= 1):
        raise ConfigError(f"The blend alpha must lie between 0 and 1 (got {alpha}): "
                          "0 = labels only, 1 = the teacher's soft targets only. Try alpha = 0.9.")


def soft_targets(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(z / T): T = 1 is the ordinary softmax; a higher T spreads probability onto
    the wrong-but-plausible classes (the teacher's "dark knowledge")."""
    check_temperature_alpha(temperature, 0.0)
    return F.softmax(logits.float() / temperature, dim=-1)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor | None,
                      labels: torch.Tensor, temperature: float, alpha: float) -> torch.Tensor:
    """Hinton et al. 2015:

        L = α · T² · KL(softmax(z_t / T) ‖ softmax(z_s / T)) + (1 − α) · CE(z_s, y)

    α is the weight of the teacher's soft targets (α = 0: labels only; α = 1: teacher only).
    The KL term is summed over classes and averaged over the batch (`reduction="batchmean"`,
    the true KL per sample). T² keeps the soft term's gradients the same size as T changes:
    for large T its gradient w.r.t. z_s tends to (z_s − z_t) / K (zero-mean logits, K classes),
    independent of T.

    Warning — conventions differ: Keras' and torchdistill's examples put α on the *hard*
    term; PyTorch's KD tutorial uses two weights and soft-target cross-entropy (KL + a
    constant). `reduction="mean"` (divides by K as well) and dropping T² both shrink the
    soft signal, the latter by 1/T² — a bug several public implementations shipped.
    """
    check_temperature_alpha(temperature, alpha)
    student_logits = student_logits.float()  # losses in fp32 even under bf16 autocast
    hard = F.cross_entropy(student_logits, labels) if alpha < 1 else student_logits.new_zeros(())
    if alpha == 0:
        return hard
    soft = F.kl_div(F.log_softmax(student_logits / temperature, dim=-1),
                    F.log_softmax(teacher_logits.float() / temperature, dim=-1),
                    reduction="batchmean", log_target=True) * temperature ** 2
    return alpha * soft + (1 - alpha) * hard


class HardLabels:
    """Plain cross-entropy on the labels: how the teacher and the baseline student learn."""

    name = "labels"

    def __call__(self, model, images, labels, index):
        logits = model(images)
        return F.cross_entropy(logits.float(), labels), logits


class SoftTargets:
    """Logit distillation from the teacher's logits on the same images.

    With `teacher_logits` (N, K) cached for the whole transfer set, a step only indexes them
    (no teacher forward pass). With augmented inputs the cache would describe other images,
    so pass `teacher` instead and its logits are computed on each augmented batch.
    """

    name = "soft-targets"

    def __init__(self, temperature: float, alpha: float, teacher_logits: torch.Tensor | None = None,
                 teacher: torch.nn.Module | None = None):
        check_temperature_alpha(temperature, alpha)
        assert (teacher_logits is None) != (teacher is None), "give cached logits or a teacher, not both"
        self.temperature, self.alpha = temperature, alpha
        self.teacher_logits, self.teacher = teacher_logits, teacher

    def __call__(self, model, images, labels, index):
        if self.teacher_logits is not None:
            teacher_logits = self.teacher_logits[index]
        else:
            with torch.no_grad():
                teacher_logits = self.teacher(images)
        logits = model(images)
        return distillation_loss(logits, teacher_logits, labels, self.temperature, self.alpha), logits
