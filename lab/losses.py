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


KD_VARIANTS = ("hinton", "no-t2", "kl-mean")


def _per_member(value, logits: torch.Tensor) -> torch.Tensor:
    """A number, or one value per stacked member, shaped to broadcast over (..., B, K) logits."""
    value = torch.as_tensor(value, dtype=torch.float32, device=logits.device)
    return value.reshape(value.shape + (1, 1))


def soft_term(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature,
              variant: str = "hinton") -> torch.Tensor:
    """The soft-target term, T² · KL(softmax(z_t / T) ‖ softmax(z_s / T)), summed over classes and
    averaged over the batch (PyTorch's `batchmean`: the true KL per sample), in fp32.

    The one implementation of the KD soft term: `student_logits` may carry a leading member
    dimension, (G, B, K) from a stack of G students (lab.stacking), with `temperature` one
    value per member (G,); `teacher_logits` (B, K) is shared by every member. Returns one value
    per member: shape () for (B, K) logits, (G,) for (G, B, K).

    `variant` reproduces how some code bases write it (for the "what breaks" demo):
    no-t2:   KL without T²: its gradient shrinks like 1/T², so at T = 8 the teacher speaks 64×
             more quietly than the labels.
    kl-mean: T² · KL with `reduction="mean"`: averaged over classes too, i.e. divided by K
             (10× weaker on 10 classes) — PyTorch's default reduction, and a common slip.
    """
    if variant not in KD_VARIANTS:
        raise ConfigError(f"Unknown KD variant {variant!r}. Choose one of: {', '.join(KD_VARIANTS)}.")
    s = student_logits.float()  # losses in fp32 even under bf16 autocast
    T = _per_member(temperature, s)
    log_p_s = F.log_softmax(s / T, dim=-1)
    log_p_t = F.log_softmax(teacher_logits.float() / T, dim=-1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1).mean(-1)  # per member
    if variant == "kl-mean":
        kl = kl / s.shape[-1]
    return kl if variant == "no-t2" else kl * T.reshape(T.shape[:-2]) ** 2


def hard_term(student_logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy on the labels, averaged over the batch, one value per member (as soft_term).
    `label_smoothing` ε: the target is (1 − ε)·one-hot + ε/K (Szegedy et al. 2016)."""
    s = student_logits.float()
    k = s.shape[-1]
    per_image = F.cross_entropy(s.reshape(-1, k), labels.expand(s.shape[:-1]).reshape(-1), reduction="none",
                                label_smoothing=label_smoothing)
    return per_image.view(s.shape[:-1]).mean(-1)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor | None,
                      labels: torch.Tensor, temperature, alpha, variant: str = "hinton") -> torch.Tensor:
    """Hinton et al. 2015:

        L = α · T² · KL(softmax(z_t / T) ‖ softmax(z_s / T)) + (1 − α) · CE(z_s, y)

    α is the weight of the teacher's soft targets (α = 0: labels only; α = 1: teacher only).
    T² keeps the soft term's gradients the same size as T changes: for large T its gradient
    w.r.t. z_s tends to (z_s − z_t) / K (zero-mean logits, K classes), independent of T.
    Like `soft_term`, it takes a leading member dimension, (G, B, K) logits with one T and one
    α per member, and returns one loss per member.

    Warning — conventions differ: Keras' and torchdistill's examples put α on the *hard*
    term; PyTorch's KD tutorial uses two weights and soft-target cross-entropy (KL + a
    constant). `reduction="mean"` (divides by K as well) and dropping T² both shrink the
    soft signal, the latter by 1/T² — a bug several public implementations shipped.
    """
    if isinstance(alpha, (int, float)):
        check_temperature_alpha(temperature, alpha)
        if alpha == 0:  # labels only: no teacher needed (the same value and gradient as 0 · soft + 1 · CE)
            return hard_term(student_logits, labels)
        if alpha == 1:
            return soft_term(student_logits, teacher_logits, temperature, variant)
    # α as an fp32 tensor for one student too: 1 − α then rounds as it does for a stack's members
    alpha = torch.as_tensor(alpha, dtype=torch.float32, device=student_logits.device)
    return (alpha * soft_term(student_logits, teacher_logits, temperature, variant)
            + (1 - alpha) * hard_term(student_logits, labels))


class HardLabels:
    """Plain cross-entropy on the labels: how the teacher and the baseline student learn.
    A `label_smoothing` ε > 0 (the CIFAR-10 teacher's recipe) aims at (1 − ε)·one-hot + ε/K."""

    name = "labels"

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = label_smoothing

    def __call__(self, model, images, labels, index):
        logits = model(images)
        return hard_term(logits, labels, self.label_smoothing), logits


class SoftTargets:
    """**Logit distillation** (Hinton, Vinyals & Dean 2015). The student matches the teacher's
    temperature-softened class probabilities p_t = softmax(z_t / T) as well as the labels:
    L = α · T² · KL(p_t ‖ softmax(z_s / T)) + (1 − α) · CE(z_s, y). A high T exposes the small
    probabilities the teacher gives wrong-but-similar classes ("dark knowledge"); T² keeps the
    soft term's gradient from shrinking as T grows. The `no-t2` and `kl-mean` variants reproduce
    two bugs public code shipped (see `soft_term`)."""

    def __init__(self, temperature, alpha, teacher_logits: torch.Tensor | None = None,
                 teacher: torch.nn.Module | None = None, variant: str = "hinton"):
        """One student: numbers T and α. A stack of G students (lab.stacking.StackedModels, whose
        forward gives (G, B, K)): sequences of G temperatures and G alphas, one per member; the
        call then returns G losses, which the engine sums, so each member gets exactly the
        gradient of its own run.

        With `teacher_logits` (N, K) cached for the whole transfer set, a step only indexes them
        (no teacher forward pass). With augmented inputs the cache would describe other images,
        so pass `teacher` instead and its logits are computed on each augmented batch."""
        self.stacked = not isinstance(temperature, (int, float))
        temperatures = [float(t) for t in temperature] if self.stacked else [temperature]
        alphas = [float(a) for a in alpha] if self.stacked else [alpha]
        if len(temperatures) != len(alphas) or not temperatures:
            raise ConfigError(f"Give one alpha per temperature (got {len(temperatures)} and {len(alphas)}).")
        for t, a in zip(temperatures, alphas):
            check_temperature_alpha(t, a)
        soft_term(torch.zeros(1, 2), torch.zeros(1, 2), 1.0, variant)  # validates the name
        assert (teacher_logits is None) != (teacher is None), "give cached logits or a teacher, not both"
        self.temperature, self.alpha = temperature, alpha
        self.temperatures, self.alphas = torch.tensor(temperatures), torch.tensor(alphas)
        self.variant = variant
        self.teacher_logits, self.teacher = teacher_logits, teacher
        self.name = "kd" if variant == "hinton" else f"kd-{variant}"

    def __call__(self, model, images, labels, index):
        if self.teacher_logits is not None:
            teacher_logits = self.teacher_logits[index]
        else:
            with torch.no_grad():
                teacher_logits = self.teacher(images)
        logits = model(images)
        if not self.stacked:
            return distillation_loss(logits, teacher_logits, labels, self.temperature, self.alpha,
                                     self.variant), logits
        losses = distillation_loss(logits, teacher_logits, labels, self.temperatures.to(logits.device),
                                   self.alphas.to(logits.device), self.variant)
        return losses, logits  # one per member: the engine sums the live ones
