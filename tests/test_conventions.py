"""The convention translator against the code bases it translates: each convention's loss is
written here from that code base's own source, and a translated setting must give the same loss
(times the reported `scale`) on the same logits."""
import pytest
import torch
import torch.nn.functional as F

from lab.experiments.conventions import translate


def _kl(z_s, z_t, T):
    return F.kl_div(F.log_softmax(z_s / T, 1), F.softmax(z_t / T, 1), reduction="batchmean")


def hinton(z_s, z_t, y, T, alpha):
    return alpha * T ** 2 * _kl(z_s, z_t, T) + (1 - alpha) * F.cross_entropy(z_s, y)


def torchdistill_kd_loss(z_s, z_t, y, T, alpha, beta=None):
    """torchdistill/losses/mid_level.py, KDLoss.forward (yoshitomo-matsubara/torchdistill), transcribed:
        soft_loss = KLDivLoss(batchmean)(log_softmax(s / T), softmax(t / T))
        if self.alpha is None or self.alpha == 0 or targets is None: return soft_loss
        return self.alpha * hard_loss + self.beta * (T ** 2) * soft_loss     (beta = 1 - alpha if None)"""
    beta = 1 - alpha if beta is None else beta
    soft = _kl(z_s, z_t, T)
    if alpha is None or alpha == 0:
        return soft
    return alpha * F.cross_entropy(z_s, y) + beta * T ** 2 * soft


@pytest.fixture
def logits():
    g = torch.Generator().manual_seed(0)
    return torch.randn(16, 10, generator=g) * 3, torch.randn(16, 10, generator=g) * 3, torch.randint(0, 10, (16,), generator=g)


@pytest.mark.parametrize("T,alpha", [(4, 0.9), (2, 0.5), (4, 1.0), (8, 1.0), (1, 0.0)])
def test_hinton_to_torchdistill_gives_the_same_loss(logits, T, alpha):
    z_s, z_t, y = logits
    out = translate({"temperature": T, "alpha": alpha}, "hinton", "torchdistill")
    theirs = torchdistill_kd_loss(z_s, z_t, y, T, out["alpha"], out["beta"])
    assert hinton(z_s, z_t, y, T, alpha).item() == pytest.approx(out["scale"] * theirs.item(), rel=1e-5)


def test_torchdistill_alpha_zero_is_the_bare_kl(logits):
    """alpha = 0 is KDLoss's early return: T² times weaker than Hinton's alpha = 1, whatever beta is."""
    z_s, z_t, y = logits
    out = translate({"temperature": 4, "alpha": 1.0}, "hinton", "torchdistill")
    assert (out["alpha"], out["scale"]) == (0.0, 16.0) and "T²" in out["note"]
    back = translate({"temperature": 4, "alpha": 0.0, "beta": 0.3}, "torchdistill", "hinton")
    assert back["alpha"] == 1.0 and back["scale"] == pytest.approx(1 / 16)
    assert torchdistill_kd_loss(z_s, z_t, y, 4, 0.0, 0.3).item() == pytest.approx(
        back["scale"] * hinton(z_s, z_t, y, 4, back["alpha"]).item(), rel=1e-5)


@pytest.mark.parametrize("alpha,beta", [(0.1, None), (0.5, 2.0), (0.3, 0.0)])
def test_torchdistill_to_hinton_gives_the_same_loss(logits, alpha, beta):
    z_s, z_t, y = logits
    settings = {"temperature": 4, "alpha": alpha} | ({} if beta is None else {"beta": beta})
    out = translate(settings, "torchdistill", "hinton")
    assert torchdistill_kd_loss(z_s, z_t, y, 4, alpha, beta).item() == pytest.approx(
        out["scale"] * hinton(z_s, z_t, y, 4, out["alpha"]).item(), rel=1e-5)
