"""The per-token losses of sequence distillation. A sequence model predicts one distribution per
output position, so each loss is a per-position loss averaged over the real (unpadded) positions.

    token_nll                 labels, and sequence-level KD (Kim & Rush 2016): the same cross-entropy,
                              on the references or on the teacher's beam outputs
    word_kd                   word-level KD: Hinton's loss (lab.losses.distillation_loss) at every position
    top_k_log_probs           what an API that returns only the k most probable tokens gives away
    generalized_jsd           GKD's divergence (Agarwal et al. 2024), exactly as the paper defines it
    gkd_divergence            the β-family the on-policy objective trains with (forward KL ... reverse KL)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..losses import distillation_loss

# A stand-in for log 0 that stays finite: 0 · (−inf) would be NaN inside a KL, 0 · (−1e4) is 0.
LOG_ZERO = -1e4


def position_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """(B, T) bool: True on the first `lengths[b]` positions of row b (its phonemes and end-of-word)."""
    return torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]


def lengths_of(classes: torch.Tensor) -> torch.Tensor:
    """(B,) phonemes + 1 of EOS-terminated, EOS-padded outputs (the decoders' format)."""
    return (classes != 0).sum(1) + 1


def token_nll(logits: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """−log p(y_t | y_<t, x), averaged over every real position of the batch.

    Sequence-level KD (Kim & Rush 2016, eq. 6) minimises −log p_s(ŷ | x) for the teacher's beam output
    ŷ: the same sum of per-token terms, so it is this loss with `targets` = ŷ. (Averaging over tokens
    rather than summing per word only rescales the step; every method here averages the same way.)"""
    mask = position_mask(lengths, targets.shape[1])
    return F.cross_entropy(logits[mask].float(), targets[mask])


def word_kd(student_logits, teacher_logits, targets, lengths, temperature: float, alpha: float) -> torch.Tensor:
    """Word-level KD (Kim & Rush 2016, eq. 5; Hinton et al. 2015 at every position):

        L = mean over positions t of  α · T² · KL(softmax(z_t^T / T) ‖ softmax(z_t^S / T)) + (1 − α) · CE(z_t^S, y_t)

    The image lab's loss, applied to the (positions, classes) matrix of the real positions."""
    mask = position_mask(lengths, targets.shape[1])
    return distillation_loss(student_logits[mask], teacher_logits[mask].float(), targets[mask], temperature, alpha)


def top_k_log_probs(teacher_logits: torch.Tensor, k: int | None) -> torch.Tensor:
    """What a top-k API returns, made into a distribution: the teacher's k most probable tokens keep
    their log-probabilities, the others get LOG_ZERO. Softmax of the result (at any T) renormalises over
    the k kept tokens, whose order and ratios at temperature T are those of the full distribution.
    k = None (or ≥ the classes): the full log-probabilities; k = 1: the teacher's choice, one-hot."""
    log_p = torch.log_softmax(teacher_logits.float(), -1)
    if k is None or k >= log_p.shape[-1]:
        return log_p
    if k < 1:
        raise ConfigError(f"Top-k needs k of at least 1 (got {k}).")
    kept = log_p.topk(k, dim=-1)
    return torch.full_like(log_p, LOG_ZERO).scatter(-1, kept.indices, kept.values)


def _kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p ‖ q) over the last dimension, from log-probabilities."""
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def generalized_jsd(teacher_log_p: torch.Tensor, student_log_p: torch.Tensor, beta: float) -> torch.Tensor:
    """Agarwal et al. 2024 ("On-Policy Distillation of Language Models", eq. 2), with P the teacher
    and Q the student, per position (last dimension = classes):

        JSD(β)(P ‖ Q) = β · KL(P ‖ M) + (1 − β) · KL(Q ‖ M),   M = β·P + (1 − β)·Q

    β = 0.5 is the Jensen-Shannon divergence. At β = 0 and β = 1 it is exactly 0 (M equals the other
    distribution); near them it is β·KL(P ‖ Q) + O(β²) (forward KL, mode-covering) and
    (1 − β)·KL(Q ‖ P) + O((1 − β)²) (reverse KL, mode-seeking) — Huszár 2015, eqs. 14-17."""
    if not 0 <= beta <= 1:
        raise ConfigError(f"β must lie between 0 (forward KL) and 1 (reverse KL); got {beta}.")
    p, q = teacher_log_p.float(), student_log_p.float()
    if beta in (0, 1):
        return torch.zeros(p.shape[:-1], device=p.device)
    mixture = torch.logsumexp(torch.stack([p + torch.log(torch.tensor(beta)),
                                           q + torch.log(torch.tensor(1 - beta))]), dim=0)
    return beta * _kl(p, mixture) + (1 - beta) * _kl(q, mixture)


def gkd_divergence(teacher_log_p: torch.Tensor, student_log_p: torch.Tensor, beta: float) -> torch.Tensor:
    """The on-policy objective's divergence per position, continuous in β over [0, 1]:

        β = 0: KL(P ‖ Q) forward;   β = 1: KL(Q ‖ P) reverse;   between: JSD(β)(P ‖ Q) / (β(1 − β))

    Dividing by β(1 − β) changes no gradient's direction, only its size: the paper's raw JSD(β) goes to 0
    at both ends, so code that uses it inside (0, 1) and switches to the plain KLs at the ends (as GKD's
    experiments and TRL's GKDTrainer do) makes β near 0 or 1 mostly a step-size knob — a jump
    that issue reports on TRL and ms-swift describe. Here β only moves between the two KLs."""
    if not 0 <= beta <= 1:
        raise ConfigError(f"β must lie between 0 (forward KL) and 1 (reverse KL); got {beta}.")
    p, q = teacher_log_p.float(), student_log_p.float()
    if beta == 0:
        return _kl(p, q)
    if beta == 1:
        return _kl(q, p)
    return generalized_jsd(p, q, beta) / (beta * (1 - beta))


def on_policy_loss(student_logits, teacher_logits, lengths, beta: float, temperature: float = 1.0) -> torch.Tensor:
    """Mean over the real positions of gkd_divergence(teacher ‖ student) at temperature T (GKD, eq. 3's
    inner term: the teacher scores every prefix of the output, here the student's own samples)."""
    mask = position_mask(lengths, student_logits.shape[1])
    p = torch.log_softmax(teacher_logits[mask].float() / temperature, -1)
    q = torch.log_softmax(student_logits[mask].float() / temperature, -1)
    return gkd_divergence(p, q, beta).mean()
