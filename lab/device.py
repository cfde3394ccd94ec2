"""Which device and precision to train on, and how many CPU threads to use."""
from __future__ import annotations

import contextlib
import functools
import os
import time

import torch

from .cores import available_cores, cgroup_cpu_limit, cgroup_usage_seconds
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
        # Not torch.cuda.is_bf16_supported(): it also says yes where bf16 is only emulated (T4, V100).
        return native_cuda_bf16(torch.cuda.get_device_capability())
    if device_type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def native_cuda_bf16(capability: tuple[int, int]) -> bool:
    """bf16 tensor cores are native from compute capability 8.0 (Ampere: A100, RTX 30xx) on;
    Turing (7.5, T4) and Volta (7.0, V100) run bf16 emulated, slower than fp32."""
    return tuple(capability) >= (8, 0)


def autocast(device: torch.device | str):
    """bf16 autocast where it is fast, otherwise a no-op context."""
    device_type = torch.device(device).type
    if bf16_is_fast(device_type):
        return torch.autocast(device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def precision_name(device: torch.device | str) -> str:
    return "bf16" if bf16_is_fast(torch.device(device).type) else "fp32"


def free_cores() -> int:
    """Cores not already busy with other processes, measured now (at least 1).

    Why it matters: every parallel PyTorch op ends at an OpenMP barrier. When other
    processes keep the cores busy, one of our threads is often descheduled and the other
    waits for it at each barrier. Measured on a 2-core machine shared with 4 busy
    processes: a student epoch took 7x longer, a teacher epoch 3x longer with 2 threads
    than with 1. On an idle machine 2 threads are ~1.7x faster for the convolutions."""
    cores = available_cores()
    busy = _busy_cores(0.1)
    return max(1, min(cores, round(cores - busy + 0.25)))


def _busy_cores(window_s: float) -> float:
    """Cores busy with other work right now, sampled over a short window while this process
    sleeps: under a cgroup CPU quota, the cgroup's own CPU time less this process's (the host's
    other tenants do not spend our quota); else /proc/stat (the host's busy share, scaled to the
    cores we may use); else the 1-minute load average (which lags and counts us)."""
    limit = cgroup_cpu_limit()
    if limit is not None and cgroup_usage_seconds(limit) is not None:
        wall0, own0, used0 = time.perf_counter(), time.process_time(), cgroup_usage_seconds(limit)
        time.sleep(window_s)
        used1 = cgroup_usage_seconds(limit)
        if used1 is not None:
            others = (used1 - used0) - (time.process_time() - own0)
            return max(0.0, others / max(time.perf_counter() - wall0, 1e-9))

    def ticks():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values[:8]) - idle, sum(values[:8])
    try:
        busy0, total0 = ticks()
        time.sleep(window_s)
        busy1, total1 = ticks()
        return available_cores() * (busy1 - busy0) / max(total1 - total0, 1)
    except (OSError, ValueError, IndexError):
        try:
            return os.getloadavg()[0]
        except (AttributeError, OSError):  # Windows
            return 0.0


def cap_threads(limit: int | None = None) -> int:
    """Use at most `limit` cores for intra-op work (default: $LAB_THREADS, else the cores
    that other processes leave free, see `free_cores`); returns the count set.
    The app caps this so one training job cannot starve the web server."""
    cores = available_cores()
    if limit is None and os.environ.get("LAB_THREADS", "").isdigit():
        limit = int(os.environ["LAB_THREADS"])
    n = max(1, min(cores, limit or free_cores()))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
