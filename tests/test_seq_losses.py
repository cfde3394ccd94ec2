"""The sequence losses against references written from the papers' formulas, in numpy, position by
position: Hinton's loss per token (word-level KD), the top-k API's distribution, GKD's generalized
JSD (Agarwal et al. 2024, eq. 2) and its endpoints, and the sequence-level loss on beam outputs."""
import math

import numpy as np
import pytest
import torch

from lab.seq.losses import (LOG_ZERO, generalized_jsd, gkd_divergence, on_policy_loss, token_nll,
                            top_k_log_probs, word_kd)


def softmax(z, T=1.0):
    e = np.exp((z - z.max(-1, keepdims=True)) / T)
    return e / e.sum(-1, keepdims=True)


def kl(p, q):
    return float(np.sum(p * np.log(p / q)))


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    student = torch.randn(3, 4, 40, generator=g) * 2
    teacher = torch.randn(3, 4, 40, generator=g) * 2
    targets = torch.randint(1, 40, (3, 4), generator=g)
    lengths = torch.tensor([4, 2, 3])  # positions past a row's length are padding
    return student, teacher, targets, lengths


def test_word_kd_is_hintons_loss_at_every_real_position(batch):
    student, teacher, targets, lengths = batch
    T, alpha = 2.0, 0.3
    s, t = student.double().numpy(), teacher.double().numpy()
    terms = []
    for b in range(3):
        for i in range(int(lengths[b])):
            p_t, p_s = softmax(t[b, i], T), softmax(s[b, i], T)
            ce = -math.log(softmax(s[b, i])[targets[b, i]])
            terms.append(alpha * T ** 2 * kl(p_t, p_s) + (1 - alpha) * ce)
    assert word_kd(student, teacher, targets, lengths, T, alpha).item() == pytest.approx(np.mean(terms), rel=1e-5)


def test_padding_positions_do_not_count(batch):
    student, teacher, targets, lengths = batch
    changed = student.clone()
    changed[1, 2:] = 100.0  # row 1 has 2 real positions
    assert word_kd(changed, teacher, targets, lengths, 2.0, 0.5).item() == pytest.approx(
        word_kd(student, teacher, targets, lengths, 2.0, 0.5).item())


def test_top_k_keeps_the_k_most_probable_tokens_renormalised():
    z = torch.tensor([[2.0, 1.0, 0.5, -1.0, 3.0]])
    p = softmax(z.numpy()[0])
    kept = torch.softmax(top_k_log_probs(z, 2), -1)[0].numpy()
    expected = np.zeros(5)
    expected[[4, 0]] = p[[4, 0]] / (p[4] + p[0])
    assert kept == pytest.approx(expected, abs=1e-7)
    one = torch.softmax(top_k_log_probs(z, 1), -1)[0].numpy()
    assert one == pytest.approx(np.eye(5)[4], abs=1e-7)  # k = 1: the teacher's choice, one-hot
    assert torch.softmax(top_k_log_probs(z, None), -1)[0].numpy() == pytest.approx(p, rel=1e-6)
    assert torch.softmax(top_k_log_probs(z, 5), -1)[0].numpy() == pytest.approx(p, rel=1e-6)
    # At a temperature T the kept tokens keep the ratios of softmax(z / T), as the teacher's full answer would
    soft = torch.softmax(top_k_log_probs(z, 2) / 4, -1)[0].numpy()
    p4 = softmax(z.numpy()[0], 4)
    assert soft[[4, 0]] == pytest.approx(p4[[4, 0]] / (p4[4] + p4[0]), rel=1e-6)
    assert (top_k_log_probs(z, 2) == LOG_ZERO).sum() == 3


def test_word_kd_with_a_top_k_teacher_stays_finite(batch):
    student, teacher, targets, lengths = batch
    loss = word_kd(student, top_k_log_probs(teacher, 1), targets, lengths, 4.0, 1.0)
    assert torch.isfinite(loss)


def jsd_reference(p, q, beta):
    """GKD eq. 2: JSD(β)(P‖Q) = β KL(P‖βP + (1−β)Q) + (1−β) KL(Q‖βP + (1−β)Q), in probability space."""
    m = beta * p + (1 - beta) * q
    return beta * kl(p, m) + (1 - beta) * kl(q, m)


@pytest.mark.parametrize("beta", [0.1, 0.5, 0.9])
def test_generalized_jsd_matches_the_papers_definition(beta):
    g = torch.Generator().manual_seed(1)
    zt, zs = torch.randn(5, 40, generator=g) * 2, torch.randn(5, 40, generator=g) * 2
    got = generalized_jsd(torch.log_softmax(zt, -1), torch.log_softmax(zs, -1), beta)
    for i in range(5):
        p, q = softmax(zt[i].double().numpy()), softmax(zs[i].double().numpy())
        assert got[i].item() == pytest.approx(jsd_reference(p, q, beta), rel=1e-4)


def test_jsd_half_is_the_jensen_shannon_divergence():
    p, q = np.array([0.7, 0.2, 0.1]), np.array([0.1, 0.3, 0.6])
    m = (p + q) / 2
    got = generalized_jsd(torch.tensor(np.log(p)), torch.tensor(np.log(q)), 0.5).item()
    assert got == pytest.approx(0.5 * kl(p, m) + 0.5 * kl(q, m), rel=1e-5)
    assert got <= math.log(2)  # JS is bounded by log 2


def test_generalized_jsd_endpoints_and_their_limits():
    """At β = 0 and 1 the mixture equals one side, so JSD(β) = 0; near them JSD(β)/β → KL(P‖Q) (forward)
    and JSD(β)/(1 − β) → KL(Q‖P) (reverse): Huszár 2015, the paper's 'interpolates' statement."""
    p, q = np.array([0.6, 0.3, 0.1]), np.array([0.2, 0.2, 0.6])
    lp, lq = torch.tensor(np.log(p)), torch.tensor(np.log(q))
    assert generalized_jsd(lp, lq, 0.0).item() == 0 and generalized_jsd(lp, lq, 1.0).item() == 0
    eps = 1e-4
    assert generalized_jsd(lp, lq, eps).item() / eps == pytest.approx(kl(p, q), rel=1e-3)
    assert generalized_jsd(lp, lq, 1 - eps).item() / eps == pytest.approx(kl(q, p), rel=1e-3)


def test_gkd_divergence_runs_from_forward_to_reverse_kl_continuously():
    p, q = np.array([0.6, 0.3, 0.1]), np.array([0.2, 0.2, 0.6])
    lp, lq = torch.tensor(np.log(p)), torch.tensor(np.log(q))
    assert gkd_divergence(lp, lq, 0.0).item() == pytest.approx(kl(p, q), rel=1e-6)   # forward: mode-covering
    assert gkd_divergence(lp, lq, 1.0).item() == pytest.approx(kl(q, p), rel=1e-6)   # reverse: mode-seeking
    assert gkd_divergence(lp, lq, 1e-4).item() == pytest.approx(kl(p, q), rel=1e-3)
    assert gkd_divergence(lp, lq, 1 - 1e-4).item() == pytest.approx(kl(q, p), rel=1e-3)
    assert gkd_divergence(lp, lq, 0.5).item() == pytest.approx(4 * jsd_reference(p, q, 0.5), rel=1e-5)


def test_forward_kl_covers_modes_and_reverse_kl_seeks_one():
    """The picture behind β: fit one Gaussian-like bump (a softmax over 9 bins, location and width free) to
    a two-peaked target. Forward KL spreads over both peaks; reverse KL sits on one."""
    bins = torch.arange(9.0)
    target = torch.log_softmax(-(torch.minimum((bins - 1) ** 2, (bins - 7) ** 2)) * 2, -1)

    def fit(beta):
        centre, log_width = torch.tensor(2.5, requires_grad=True), torch.tensor(0.5, requires_grad=True)
        opt = torch.optim.Adam([centre, log_width], lr=0.05)
        for _ in range(600):
            q = torch.log_softmax(-(bins - centre) ** 2 / torch.exp(log_width) ** 2, -1)
            loss = gkd_divergence(target, q, beta)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return centre.item(), torch.exp(log_width).item()

    forward_centre, forward_width = fit(0.0)
    reverse_centre, reverse_width = fit(1.0)
    assert abs(forward_centre - 4) < 0.5 and forward_width > 2.5      # between the peaks, wide
    assert min(abs(reverse_centre - 1), abs(reverse_centre - 7)) < 0.5 and reverse_width < 1.5   # on one peak


def test_sequence_level_loss_is_the_nll_of_the_beam_output():
    """Kim & Rush 2016, eq. 6: −log p(ŷ | x) = −Σ_t log p(ŷ_t | ŷ_<t, x); token_nll averages it per token."""
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 3, 40, generator=g)
    outputs = torch.tensor([[5, 9, 0], [7, 0, 0]])   # ŷ, end-of-word (0) included
    lengths = torch.tensor([3, 2])
    log_p = torch.log_softmax(logits.double(), -1)
    sequence_nll = [-(log_p[0, 0, 5] + log_p[0, 1, 9] + log_p[0, 2, 0]), -(log_p[1, 0, 7] + log_p[1, 1, 0])]
    assert token_nll(logits, outputs, lengths).item() == pytest.approx(float(sum(sequence_nll)) / 5, rel=1e-6)


def test_on_policy_loss_averages_the_divergence_over_real_positions(batch):
    student, teacher, _, lengths = batch
    s, t = student.double().numpy(), teacher.double().numpy()
    terms = [jsd_reference(softmax(t[b, i]), softmax(s[b, i]), 0.3) / (0.3 * 0.7)
             for b in range(3) for i in range(int(lengths[b]))]
    assert on_policy_loss(student, teacher, lengths, 0.3).item() == pytest.approx(np.mean(terms), rel=1e-4)
