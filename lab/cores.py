"""How many CPU cores this process may really use: the CPUs it may run on, capped by its
cgroup's CPU quota (containers). Plain Python, no torch: the job queue sizes itself with it too.

os.cpu_count() and /proc/stat see the host. In a container limited to 2 CPUs on a 64-core host
(Docker --cpus, Kubernetes limits, Streamlit Community Cloud) they say 64: 64 torch threads then
share 2 CPUs' time, each stalling the others at every OpenMP barrier, and 32 jobs run at once.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")


def available_cores(cgroup_root: Path | None = None, proc_self_cgroup: Path | None = None) -> int:
    """The cores this process may really use (at least 1): the CPUs it may run on
    (os.sched_getaffinity), capped by its cgroup's CPU quota rounded down (1.5 CPUs -> 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit(cgroup_root, proc_self_cgroup)
    if limit is not None:
        cores = min(cores, max(1, math.floor(limit.cpus)))
    return max(1, cores)


@dataclass(frozen=True)
class CpuLimit:
    cpus: float         # quota / period: CPUs' worth of time the cgroup may use
    usage: Path | None  # its CPU-time counter, shared by every process under the limit


def cgroup_cpu_limit(cgroup_root: Path | None = None, proc_self_cgroup: Path | None = None) -> CpuLimit | None:
    """The tightest CPU quota along this process's cgroup path; None without one.

    cgroup v2: `cpu.max` holds "QUOTA PERIOD" or "max PERIOD" (no limit). cgroup v1: the cpu
    controller's folder ("cpu" or "cpu,cpuacct") holds `cpu.cfs_quota_us` (-1: no limit) and
    `cpu.cfs_period_us`. The path comes from /proc/self/cgroup ("0::/a/b", "4:cpu,cpuacct:/a/b");
    inside a container's own cgroup namespace it is "/" and the limit sits at the root."""
    cgroup_root = Path(cgroup_root or CGROUP_ROOT)
    paths = _cgroup_paths(Path(proc_self_cgroup or PROC_SELF_CGROUP))
    limits = []
    for folder in _along(cgroup_root, paths.get("", "/")):
        quota, _, period = (_read(folder / "cpu.max") or "").partition(" ")
        if _positive(quota) and _positive(period):
            limits.append(CpuLimit(int(quota) / int(period), folder / "cpu.stat"))
    for name in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        path = paths.get("cpu", "/")
        for folder in _along(cgroup_root / name, path):
            quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
            if _positive(quota) and _positive(period):
                usage = folder / "cpuacct.usage"  # co-mounted with cpuacct, or in cpuacct's own tree
                if not usage.is_file():
                    usage = cgroup_root / "cpuacct" / folder.relative_to(cgroup_root / name) / "cpuacct.usage"
                limits.append(CpuLimit(int(quota) / int(period), usage))
    return min(limits, key=lambda limit: limit.cpus) if limits else None


def cgroup_usage_seconds(limit: CpuLimit) -> float | None:
    """CPU seconds used so far by everything under the limit (v2 `cpu.stat` usage_usec, v1
    `cpuacct.usage` in nanoseconds); None when the counter cannot be read."""
    text = _read(limit.usage) if limit.usage is not None else None
    if not text:
        return None
    if limit.usage.name == "cpu.stat":
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec" and value.strip().isdigit():
                return int(value) / 1e6
        return None
    return int(text) / 1e9 if text.isdigit() else None


def _cgroup_paths(proc_self_cgroup: Path) -> dict[str, str]:
    """controller ("" for cgroup v2's unified hierarchy) -> this process's cgroup path."""
    paths = {}
    for line in (_read(proc_self_cgroup) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(",") if parts[1] else [""]:
                paths[controller] = parts[2]
    return paths


def _along(root: Path, path: str) -> list[Path]:
    """`root` and every folder down to `root`/`path` (a limit on an ancestor binds its children)."""
    parts = [p for p in path.split("/") if p and p not in (".", "..")]
    return [root.joinpath(*parts[:i]) for i in range(len(parts) + 1)]


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _positive(text: str | None) -> bool:
    return bool(text) and text.isdigit() and int(text) > 0
