"""Device, precision and core count: bf16 only where it is native, and the cores a container's
cgroup quota allows (fake cgroup files in tmp_path, as the kernel writes them)."""
import os

import pytest
import torch

from lab import cores, device
from lab.serve.jobs import default_limit


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


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def v2(tmp_path, cpu_max, path="/", usage_usec=None):
    """A cgroup v2 tree whose limit sits at the process's own cgroup `path`."""
    root = tmp_path / "cgroup"
    folder = root.joinpath(*[p for p in path.split("/") if p])
    write(folder / "cpu.max", cpu_max + "\n")
    if usage_usec is not None:
        write(folder / "cpu.stat", f"usage_usec {usage_usec}\nuser_usec 1\nsystem_usec 2\n")
    return root, write(tmp_path / "proc-self-cgroup", f"0::{path}\n")


@pytest.mark.parametrize("cpu_max, cpus", [("200000 100000", 2.0), ("150000 100000", 1.5), ("50000 100000", 0.5),
                                           ("max 100000", None)])
def test_cgroup_v2_cpu_max(tmp_path, cpu_max, cpus):
    root, proc = v2(tmp_path, cpu_max)
    limit = cores.cgroup_cpu_limit(root, proc)
    assert (limit and limit.cpus) == cpus
    affinity = len(os.sched_getaffinity(0))
    expected = affinity if cpus is None else min(affinity, max(1, int(cpus)))  # rounded down, at least 1
    assert cores.available_cores(root, proc) == expected


def test_cgroup_v2_limit_on_an_ancestor_binds_and_the_tightest_wins(tmp_path):
    root, proc = v2(tmp_path, "max 100000", path="/kubepods/pod1/app")
    write(root / "kubepods" / "pod1" / "cpu.max", "100000 100000\n")  # 1 CPU for the whole pod
    write(root / "kubepods" / "cpu.max", "800000 100000\n")
    assert cores.cgroup_cpu_limit(root, proc).cpus == 1.0
    assert cores.available_cores(root, proc) == 1


def test_cgroup_v1_cfs_quota(tmp_path):
    root = tmp_path / "cgroup"
    proc = write(tmp_path / "proc-self-cgroup", "5:memory:/docker/x\n4:cpu,cpuacct:/docker/x\n0::/\n")
    folder = root / "cpu,cpuacct" / "docker" / "x"
    write(folder / "cpu.cfs_quota_us", "-1\n")
    write(folder / "cpu.cfs_period_us", "100000\n")
    assert cores.cgroup_cpu_limit(root, proc) is None  # -1: no limit
    write(folder / "cpu.cfs_quota_us", "100000\n")
    write(folder / "cpuacct.usage", "2500000000\n")  # nanoseconds
    limit = cores.cgroup_cpu_limit(root, proc)
    assert limit.cpus == 1.0 and cores.cgroup_usage_seconds(limit) == 2.5
    assert cores.available_cores(root, proc) == 1


def test_cgroup_v2_usage_counter(tmp_path):
    root, proc = v2(tmp_path, "300000 100000", usage_usec=4_250_000)
    limit = cores.cgroup_cpu_limit(root, proc)
    assert limit.cpus == 3.0 and cores.cgroup_usage_seconds(limit) == 4.25


def test_no_cgroup_files_means_no_limit(tmp_path):
    assert cores.cgroup_cpu_limit(tmp_path / "nothing", tmp_path / "no-proc-file") is None
    assert cores.available_cores(tmp_path / "nothing", tmp_path / "no-proc-file") == len(os.sched_getaffinity(0))


def test_a_two_cpu_container_on_a_64_core_host_gets_two_threads_and_one_job(tmp_path, monkeypatch):
    # The host: 64 cores, all schedulable; the container: cpu.max = 2 CPUs (Community Cloud-like).
    root, proc = v2(tmp_path, "200000 100000", usage_usec=10_000_000)
    monkeypatch.setattr(cores, "CGROUP_ROOT", root)
    monkeypatch.setattr(cores, "PROC_SELF_CGROUP", proc)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    monkeypatch.delenv("LAB_MAX_JOBS", raising=False)
    monkeypatch.delenv("LAB_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        assert device.cap_threads(64) == 2 == torch.get_num_threads()
        # nobody else spends the quota (the fake counter stands still): both cores are free
        assert device.cap_threads() == 2 == device.free_cores()
    finally:
        torch.set_num_threads(before)
    assert default_limit() == 1
