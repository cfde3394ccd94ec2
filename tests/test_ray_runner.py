"""The Ray backend's core (lab/serve/ray_runner.py) on a local Ray: a student pair, an experiment and a
Stop run in a Ray worker process and stream the same events a thread would get."""
import functools
import os
import sys
import threading
from dataclasses import replace

import pytest
import torch

ray = pytest.importorskip("ray")

from lab.serve import ray_runner  # noqa: E402
from lab.experiments import transfer_size  # noqa: E402
from lab.recipes import STUDENT_CONFIG, distill_pair_together  # noqa: E402

CONFIG = replace(STUDENT_CONFIG, epochs=2, device="cpu")


@pytest.fixture(scope="module", autouse=True)
def _ship_this_module():
    # This module is not importable in a worker (tests/ is not a package on its path): ship its
    # functions by value, as a notebook's would be.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _pair(data, teacher, stop):
    for name, event in distill_pair_together(data, teacher, "student-mlp", 4.0, 0.9, CONFIG, stop):
        yield name, event, os.getpid()


def test_a_pair_trains_in_another_process_and_matches_a_thread(local_ray, sample, trained_teacher):
    teacher = trained_teacher[0]
    assert ray_runner.slots(1.0) == 2
    remote = list(ray_runner.remote_events(functools.partial(_pair, sample, teacher)))
    assert {pid for _, _, pid in remote} != {os.getpid()}  # the training ran in a Ray worker
    last = {name: event for name, event, _ in remote}
    assert last["hard"].kind == last["distilled"].kind == "finished"
    # The same pair trained here, in this process: the same students (same init, same batches).
    here = {name: event for name, event in distill_pair_together(sample, teacher, "student-mlp", 4.0, 0.9, CONFIG)}
    for name in ("hard", "distilled"):
        a, b = last[name].result.metrics["test_accuracy"], here[name].result.metrics["test_accuracy"]
        assert abs(a - b) <= 0.003, (name, a, b)  # within 3 of 1,000 test images (threads round differently)
        assert isinstance(last[name].result.model, torch.nn.Module)


def test_an_experiment_streams_its_progress_and_result(local_ray, sample, trained_teacher):
    config = transfer_size.TransferSizeConfig(fractions=(0.1, 0.2), seeds=(0,), epochs=1, device="cpu")
    work = functools.partial(transfer_size.run, sample, trained_teacher[0], config)
    items = list(ray_runner.remote_events(work))
    assert [p.status for p in items[:-1]] == ["running"] * (len(items) - 1)
    assert items[-1].status == "finished" and items[-1].result is not None
    fractions = [p.fraction for p in items]
    assert fractions == sorted(fractions)  # progress only goes forward


def _slow_teacher_like(stop):
    from lab.recipes import train_teacher
    from lab.data import load
    yield from train_teacher(load("mnist-sample"), config=replace(CONFIG, epochs=50), stop=stop)


def test_stop_reaches_the_worker(local_ray):
    flag = threading.Event()
    events = []
    for event in ray_runner.remote_events(_slow_teacher_like, stop=flag):
        events.append(event)
        if event.kind == "step" and event.step >= 16:
            flag.set()
    assert events[-1].kind == "stopped"
    assert events[-1].step < events[-1].total_steps // 4  # it ended long before 50 epochs


def _fails(stop):
    from lab.errors import ConfigError
    yield 1
    raise ConfigError("bad settings")


def test_an_error_in_the_worker_comes_back_as_itself(local_ray):
    from lab.errors import ConfigError
    got = []
    with pytest.raises(ConfigError, match="bad settings"):
        for item in ray_runner.remote_events(_fails):
            got.append(item)
    assert got == [1]
