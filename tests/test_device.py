"""Device and precision: bf16 only where it is native."""
import pytest
import torch

from lab import device


@pytest.fixture
def fresh_bf16(monkeypatch):
    monkeypatch.delenv("LAB_PRECISION", raising=False)
    device.bf16_is_fast.cache_clear()
    yield
    device.bf16_is_fast.cache_clear()


@pytest.mark.parametrize("capability, native", [((7, 0), False), ((7, 5), False), ((8, 0), True),
                                                ((8, 6), True), ((9, 0), True)])
def test_cuda_bf16_only_from_ampere_even_where_torch_says_it_is_supported(fresh_bf16, monkeypatch, capability,
                                                                          native):
    # torch.cuda.is_bf16_supported() counts emulation: it says True on a T4 (7.5) and a V100 (7.0),
    # where bf16 autocast is slower than fp32.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: capability)
    assert device.bf16_is_fast("cuda") is native
    assert device.precision_name("cuda") == ("bf16" if native else "fp32")
