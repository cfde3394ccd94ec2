import math

import pytest
import torch
import torch.nn.functional as F

from lab.errors import ConfigError
from lab.losses import HardLabels, SoftTargets, distillation_loss, soft_targets


def test_soft_targets_by_hand():
    logits = torch.tensor([[2.0, 0.0, -2.0]])
    e = [math.exp(1), 1, math.exp(-1)]  # logits / T with T = 2
    expected = torch.tensor([[v / sum(e) for v in e]])
    assert torch.allclose(soft_targets(logits, 2.0), expected, atol=1e-6)
    # Higher T = flatter; T -> large tends to uniform.
    assert soft_targets(logits, 100.0).max() < 0.35


def test_alpha_zero_is_cross_entropy_by_hand():
    s = torch.tensor([[1.0, 2.0, 0.5]])
    y = torch.tensor([1])
    by_hand = -(2.0 - math.log(math.exp(1) + math.exp(2) + math.exp(0.5)))
    assert distillation_loss(s, torch.zeros(1, 3), y, 3.0, 0.0).item() == pytest.approx(by_hand, rel=1e-6)


def test_alpha_one_is_t_squared_kl_by_hand():
    s = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    t = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    T = 2.0
    total = 0.0
    for srow, trow in zip(s.tolist(), t.tolist()):
        p = [math.exp(v / T) for v in trow]
        p = [v / sum(p) for v in p]
        q = [math.exp(v / T) for v in srow]
        q = [v / sum(q) for v in q]
        total += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    by_hand = T * T * total / 2  # batchmean: sum over classes, mean over the 2 samples
    got = distillation_loss(s, t, torch.tensor([0, 0]), T, 1.0).item()
    assert got == pytest.approx(by_hand, rel=1e-5)


def test_blend_is_linear_in_alpha():
    torch.manual_seed(0)
    s, t, y = torch.randn(8, 10), torch.randn(8, 10), torch.randint(0, 10, (8,))
    hard = distillation_loss(s, t, y, 4.0, 0.0)
    soft = distillation_loss(s, t, y, 4.0, 1.0)
    assert distillation_loss(s, t, y, 4.0, 0.3).item() == pytest.approx((0.3 * soft + 0.7 * hard).item(), rel=1e-5)


def test_identical_logits_give_zero_kl():
    z = torch.randn(16, 10)
    assert distillation_loss(z, z.clone(), torch.zeros(16, dtype=torch.long), 5.0, 1.0).abs().item() < 1e-6


def test_batchmean_not_mean():
    """`mean` would divide by K as well: the loss must be K times larger than that."""
    torch.manual_seed(1)
    s, t = torch.randn(4, 10), torch.randn(4, 10)
    wrong = F.kl_div(F.log_softmax(s, -1), F.softmax(t, -1), reduction="mean")
    ours = distillation_loss(s, t, torch.zeros(4, dtype=torch.long), 1.0, 1.0)
    assert ours.item() == pytest.approx(10 * wrong.item(), rel=1e-5)


def test_high_temperature_gradient_is_logit_matching():
    """Hinton et al. 2015 §2.1: for large T and zero-mean logits, dL/dz_s ≈ (z_s - z_t) / K per
    sample, independent of T — which is exactly why the soft term is multiplied by T²."""
    torch.manual_seed(0)
    K = 10
    s = torch.randn(1, K)
    t = torch.randn(1, K)
    s, t = s - s.mean(), t - t.mean()
    expected = (s - t) / K
    errors = []
    for T in (10.0, 100.0, 1000.0):
        z = s.clone().requires_grad_(True)
        distillation_loss(z, t, torch.tensor([0]), T, 1.0).backward()
        errors.append((z.grad - expected).abs().max().item() / expected.abs().max().item())
    assert errors[0] < 0.15 and errors[1] < 0.015 and errors[2] < 0.002  # error shrinks like 1/T
    # Without T² the gradient would shrink as 1/T²: at T = 50 it would be 2,500× smaller.


@pytest.mark.parametrize("T,alpha", [(0, 0.5), (-1, 0.5), (float("nan"), 0.5), (2, -0.1), (2, 1.5)])
def test_bad_settings_are_value_errors_with_advice(T, alpha):
    with pytest.raises(ValueError, match="Try"):
        distillation_loss(torch.zeros(1, 3), torch.zeros(1, 3), torch.tensor([0]), T, alpha)
    with pytest.raises(ConfigError):
        SoftTargets(T, alpha, teacher_logits=torch.zeros(1, 3))


def test_objectives_use_cached_or_live_teacher_logits():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    teacher = torch.nn.Linear(4, 3)
    x, y, idx = torch.randn(5, 4), torch.randint(0, 3, (5,)), torch.arange(5)
    cached = SoftTargets(2.0, 0.5, teacher_logits=teacher(x).detach())
    live = SoftTargets(2.0, 0.5, teacher=teacher)
    assert torch.allclose(cached(model, x, y, idx)[0], live(model, x, y, idx)[0])
    loss, logits = HardLabels()(model, x, y, idx)
    assert torch.allclose(loss, F.cross_entropy(model(x), y))
