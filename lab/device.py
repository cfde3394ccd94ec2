"""Which device and precision to train on, and how many CPU threads to use."""
from __future__ import annotations

import contextlib
import functools
import os

import torch

from .errors import ConfigError

DEVICES = ("auto", "cpu", "cuda", "mps")


def pick_device(name: str = "auto") -> torch.device:
    """`auto` = CUDA, then Apple MPS, then CPU. Asking for one that is absent is a clear error."""
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("No CUDA GPU is visible to PyTorch here. Use --device cpu (or auto).")
    if name == "mps" and not has_mps:
        raise ConfigError("Apple's MPS backend is not available here. Use --device cpu (or auto).")
    if name not in DEVICES:
        raise ConfigError(f"Unknown device {name!r}. Choose one of: {', '.join(DEVICES)}.")
    return torch.device(name)


@functools.lru_cache(maxsize=None)
def bf16_is_fast(device_type: str) -> bool:
    """bf16 autocast pays off on CUDA (Ampere+) and on CPUs with native bf16 (AVX512-BF16 / AMX).
    Elsewhere (e.g. AVX2-only CPUs) bf16 is emulated and slower than fp32, so we stay in fp32."""
    if os.environ.get("LAB_PRECISION") == "fp32":
        return False
    if device_type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device_type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def autocast(device: torch.device | str):
    """bf16 autocast where it is fast, otherwise a no-op context."""
    device_type = torch.device(device).type
    if bf16_is_fast(device_type):
        return torch.autocast(device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def precision_name(device: torch.device | str) -> str:
    return "bf16" if bf16_is_fast(torch.device(device).type) else "fp32"


def cap_threads(limit: int | None = None) -> int:
    """Use at most `limit` (default: all) cores for intra-op work; returns the count set.
    The app caps this so one training job cannot starve the web server."""
    cores = os.cpu_count() or 1
    n = max(1, min(cores, limit or cores))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
