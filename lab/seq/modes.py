"""The picture behind the on-policy β slider: a student with one mode fits a teacher with two.

Forward KL, KL(P ‖ Q), pays wherever the teacher has mass the student lacks, so the student spreads
over both modes (mode-covering); reverse KL, KL(Q ‖ P), pays wherever the student puts mass the
teacher lacks, so it settles on one mode (mode-seeking). β moves between them (lab.seq.losses).

    fit = fit_one_mode(two_modes(), beta=0.5)     # {"centre", "width", "student", "teacher", "divergence"}
"""
from __future__ import annotations

import torch

from .losses import gkd_divergence


def two_modes(bins: int = 41, left: float = 0.25, right: float = 0.75, width: float = 0.06,
              left_mass: float = 0.5) -> torch.Tensor:
    """(bins,) log-probabilities of a two-peaked distribution over [0, 1]."""
    x = torch.linspace(0, 1, bins)
    mix = left_mass * torch.exp(-((x - left) / width) ** 2 / 2) + (1 - left_mass) * torch.exp(-((x - right) / width) ** 2 / 2)
    return torch.log(mix / mix.sum() + 1e-12)


def one_mode(centre: torch.Tensor, log_width: torch.Tensor, bins: int) -> torch.Tensor:
    """(bins,) log-probabilities of one bump (a discretised Gaussian) at `centre` with width exp(log_width)."""
    x = torch.linspace(0, 1, bins)
    return torch.log_softmax(-((x - centre) / torch.exp(log_width)) ** 2 / 2, -1)


def fit_one_mode(teacher: torch.Tensor, beta: float, steps: int = 400, start: float = 0.45, lr: float = 0.03) -> dict:
    """Minimise gkd_divergence(teacher ‖ student) over the bump's centre and width (Adam, from `start`,
    slightly off the middle so that reverse KL has a side to fall to)."""
    centre = torch.tensor(start, requires_grad=True)
    log_width = torch.tensor(-3.0, requires_grad=True)   # narrow at first: reverse KL then has a side to fall to
    optimizer = torch.optim.Adam([centre, log_width], lr=lr)
    for _ in range(steps):
        loss = gkd_divergence(teacher, one_mode(centre, log_width, teacher.shape[-1]), beta)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        student = one_mode(centre, log_width, teacher.shape[-1])
        return {"beta": beta, "centre": centre.item(), "width": torch.exp(log_width).item(),
                "divergence": gkd_divergence(teacher, student, beta).item(),
                "x": torch.linspace(0, 1, teacher.shape[-1]).tolist(),
                "teacher": teacher.exp().tolist(), "student": student.exp().tolist()}
