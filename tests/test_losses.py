import math

import pytest
import torch
import torch.nn.functional as F

from lab.errors import ConfigError
from lab.losses import HardLabels, SoftTargets, distillation_loss, soft_targets, soft_term


# ---------------------------------------------------------------- references written from the paper
# Hinton, Vinyals & Dean 2015 (§2): p = softmax(z / T); the soft term is T² · KL(p_t ‖ p_s) per
# image, and its gradient w.r.t. the student's logits is ∂(T² · KL)/∂z_s = T · (p_s − p_t)
# (the paper's ∂C/∂z_i = (q_i − p_i) / T for the cross-entropy, times T²). Plain Python floats.

def softmax_by_hand(z, T=1.0):
    top = max(z)
    e = [math.exp((v - top) / T) for v in z]
    return [v / sum(e) for v in e]


def kl_by_hand(z_s, z_t, T):
    p_s, p_t = softmax_by_hand(z_s, T), softmax_by_hand(z_t, T)
    return sum(pt * math.log(pt / ps) for pt, ps in zip(p_t, p_s))


def kd_gradient_by_hand(z_s, z_t, T):
    """∂(T² · KL(p_t ‖ p_s)) / ∂z_s for one image."""
    return [T * (ps - pt) for ps, pt in zip(softmax_by_hand(z_s, T), softmax_by_hand(z_t, T))]


def ce_gradient_by_hand(z_s, y):
    """∂CE(z_s, y) / ∂z_s = softmax(z_s) − one_hot(y) for one image."""
    return [p - (k == y) for k, p in enumerate(softmax_by_hand(z_s))]


def random_logits(*shape, seed=0, scale=3.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


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


@pytest.mark.parametrize("T", [1.0, 2.5, 8.0])
def test_kd_soft_term_and_its_gradient_per_sample_match_the_paper(T):
    """The soft term's value is the batch mean of T² · KL per image, and each image's gradient
    (before the batch mean divides it by B) is T · (p_s − p_t)."""
    B, K = 5, 4
    s, t = random_logits(B, K, seed=1), random_logits(B, K, seed=2)
    z = s.float().requires_grad_(True)
    loss = soft_term(z, t.float(), T)
    loss.backward()
    rows_s, rows_t = s.tolist(), t.tolist()
    assert loss.item() == pytest.approx(sum(T * T * kl_by_hand(a, b, T) for a, b in zip(rows_s, rows_t)) / B, rel=1e-5)
    for i in range(B):
        per_sample = (z.grad[i] * B).tolist()  # undo the batch mean
        assert per_sample == pytest.approx(kd_gradient_by_hand(rows_s[i], rows_t[i], T), abs=1e-6)


@pytest.mark.parametrize("T", [1.0, 4.0])
def test_the_two_slips_by_their_own_formulas(T):
    """no-t2 is KL alone: gradient (p_s − p_t) / T, T² times weaker; kl-mean averages over the K
    classes too: gradient T · (p_s − p_t) / K."""
    B, K = 3, 10
    s, t = random_logits(B, K, seed=3), random_logits(B, K, seed=4)
    for variant, scale in (("no-t2", 1 / (T * T)), ("kl-mean", 1 / K)):
        z = s.float().requires_grad_(True)
        value = soft_term(z, t.float(), T, variant)
        value.backward()
        by_hand = sum(kl_by_hand(a, b, T) for a, b in zip(s.tolist(), t.tolist())) / B
        assert value.item() == pytest.approx(T * T * scale * by_hand, rel=1e-5), variant
        for i in range(B):
            expected = [scale * g for g in kd_gradient_by_hand(s[i].tolist(), t[i].tolist(), T)]
            assert (z.grad[i] * B).tolist() == pytest.approx(expected, abs=1e-6), variant


def test_the_blend_gradient_per_sample_is_alpha_t_kd_plus_one_minus_alpha_ce():
    B, K, T, alpha = 4, 6, 3.0, 0.7
    s, t = random_logits(B, K, seed=5), random_logits(B, K, seed=6)
    y = torch.tensor([0, 5, 2, 2])
    z = s.float().requires_grad_(True)
    distillation_loss(z, t.float(), y, T, alpha).backward()
    for i in range(B):
        kd = kd_gradient_by_hand(s[i].tolist(), t[i].tolist(), T)
        ce = ce_gradient_by_hand(s[i].tolist(), int(y[i]))
        assert (z.grad[i] * B).tolist() == pytest.approx([alpha * a + (1 - alpha) * b for a, b in zip(kd, ce)],
                                                         abs=1e-6)


def test_a_leading_member_dimension_gives_each_member_its_own_loss_and_gradient():
    """(G, B, K) logits from a stack of G students, one (T, α) per member, one teacher for all:
    member g's loss and gradient are those of the formula at (T_g, α_g), by hand."""
    G, B, K = 3, 4, 5
    s, t = random_logits(G, B, K, seed=7), random_logits(B, K, seed=8)
    y = torch.tensor([1, 0, 4, 1])
    temps, alphas = [1.0, 4.0, 8.0], [0.0, 0.5, 1.0]
    z = s.float().requires_grad_(True)
    objective = SoftTargets(temps, alphas, teacher_logits=t.float())
    losses, logits = objective(lambda x: z, None, y, torch.arange(B))
    assert logits.shape == (G, B, K) and losses.shape == (G,)
    losses.sum().backward()  # the engine sums the members' losses: each gradient is the member's own
    per_member = []
    for g, (T, a) in enumerate(zip(temps, alphas)):
        rows = s[g].tolist()
        ce = [-math.log(softmax_by_hand(r)[int(c)]) for r, c in zip(rows, y)]
        kl = [T * T * kl_by_hand(r, u, T) for r, u in zip(rows, t.tolist())]
        per_member.append(sum(a * k + (1 - a) * c for k, c in zip(kl, ce)) / B)
        for i in range(B):
            kd, hard = kd_gradient_by_hand(rows[i], t[i].tolist(), T), ce_gradient_by_hand(rows[i], int(y[i]))
            assert (z.grad[g, i] * B).tolist() == pytest.approx([a * u + (1 - a) * v for u, v in zip(kd, hard)],
                                                                abs=1e-6), (g, i)
    assert losses.tolist() == pytest.approx(per_member, rel=1e-5)
    members = distillation_loss(s.float(), t.float(), y, torch.tensor(temps), torch.tensor(alphas))
    assert members.tolist() == pytest.approx(per_member, rel=1e-5)


def test_one_member_settings_must_pair_up():
    with pytest.raises(ConfigError, match="one alpha per temperature"):
        SoftTargets([1.0, 2.0], [0.5], teacher_logits=torch.zeros(1, 3))
    with pytest.raises(ConfigError, match="Try"):
        SoftTargets([1.0, 0.0], [0.5, 0.5], teacher_logits=torch.zeros(1, 3))
