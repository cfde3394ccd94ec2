"""Run the lab's event generators on a Ray cluster, with their events streamed back.

The web server's job threads share one interpreter lock with every page rerun; a job that runs
here trains in a Ray worker process (on this machine or another one, CPU or GPU) and only its
events travel back:

    connect("auto")                          # LAB_RAY_ADDRESS: "auto", "ray://host:10001", or "local"
    for item in remote_events(work, stop):   # work(stop) -> iterator, run by a Ray actor
        ...                                  # the items work yielded, in order (models included)

`stop` is a callable (or a threading.Event) polled here every `poll_s`; once it says stop, the
actor's own flag is set and the generator, which checks it before every step, ends with its
"stopped" event as it would in a thread. If the consumer stops reading early, the actor is
killed. One actor per job asks for `job_cpus` CPUs (and `job_gpus` GPUs): Ray starts it when a
worker has them free, so the cluster's size is the cluster-wide limit on jobs training at once.

`ray` is an optional requirement (`pip install ray`); importing this module without it is fine,
calling `connect` says how to install it.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

from ..cores import available_cores
from ..errors import LabError

_actor_class = None
_lock = threading.Lock()


def _ray():
    try:
        import ray
    except ImportError:
        raise LabError("LAB_RAY_ADDRESS is set but Ray is not installed: pip install ray "
                       "(or unset LAB_RAY_ADDRESS to train in the web server's own threads).") from None
    return ray


def connect(address: str | None = None, num_cpus: int | None = None) -> dict:
    """Join (or, for "local", start) a Ray cluster once per process; returns its resources.

    Workers import the lab from this checkout: its folder is put on their PYTHONPATH ("local": the
    same machine), or the `lab` and `app_pages` packages are shipped to them as runtime-env modules
    (any other cluster, whose workers may be other machines: they need the same requirements)."""
    ray = _ray()
    address = address or os.environ.get("LAB_RAY_ADDRESS") or "local"
    with _lock:
        if not ray.is_initialized():
            root = str(Path(__file__).resolve().parent.parent)
            if address == "local":
                runtime_env = {"env_vars": {"PYTHONPATH": root}}
            else:  # a job's work may call the app's helpers too (app_pages._app.work), not only lab's
                packages = [Path(root) / "lab", Path(root) / "app_pages"]
                runtime_env = {"py_modules": [str(p) for p in packages if p.is_dir()]}
            options = dict(include_dashboard=False, ignore_reinit_error=True, log_to_driver=False,
                           runtime_env=runtime_env, configure_logging=False)
            if address == "local":
                options["num_cpus"] = num_cpus or available_cores()  # the container's quota, not the host's cores
            else:
                options["address"] = address
            _in_lasting_thread(lambda: ray.init(**options))
    return dict(ray.cluster_resources())


def _in_lasting_thread(start) -> None:
    """Run `start` in a thread that lives as long as this process.

    A local Ray's processes (GCS, raylet) are tied to the *thread* that started them (Linux's
    PR_SET_PDEATHSIG fires when that thread ends). A Streamlit script thread ends after every page
    run, which killed the cluster a moment after the first job was submitted."""
    if threading.current_thread() is threading.main_thread():
        start()
        return
    started, failure = threading.Event(), []

    def owner():
        try:
            start()
        except BaseException as e:  # handed to the caller below
            failure.append(e)
        finally:
            started.set()
        threading.Event().wait()  # never returns: the cluster's processes stay tied to a live thread

    threading.Thread(target=owner, name="lab-ray-owner", daemon=True).start()
    started.wait()
    if failure:
        raise failure[0]


def slots(job_cpus: float = 1.0) -> int:
    """How many jobs of `job_cpus` CPUs the connected cluster can train at once (at least one)."""
    ray = _ray()
    return max(1, int(ray.cluster_resources().get("CPU", 1) // job_cpus))


def _runner():
    """The actor class, defined once ray is imported (a module-level @ray.remote would need ray)."""
    global _actor_class
    if _actor_class is None:
        ray = _ray()

        @ray.remote(max_concurrency=2)  # one thread streams events, the other takes stop()
        class EventRunner:
            def __init__(self):
                self._stop = threading.Event()
                torch_threads = os.environ.get("LAB_THREADS")
                if torch_threads:
                    import torch
                    torch.set_num_threads(int(torch_threads))

            def stop(self) -> None:
                self._stop.set()

            def run(self, work):
                # A plain loop, not `yield from`: Ray resumes this generator with send(), which
                # `yield from` would pass on to work's iterator (a dict's items() has no send).
                for item in work(self._stop):
                    yield item

        _actor_class = EventRunner
    return _actor_class


def _stop_requested(stop) -> bool:
    if stop is None:
        return False
    return stop.is_set() if hasattr(stop, "is_set") else bool(stop())


def remote_events(work: Callable[[Any], Iterator], stop=None, job_cpus: float = 1.0, job_gpus: float = 0.0,
                  poll_s: float = 0.2) -> Iterator:
    """The items of `work(stop)`, computed in a Ray actor. Exceptions raised by the work are re-raised
    here with their own type (Ray wraps them; `.cause` is the original)."""
    ray = _ray()
    if not ray.is_initialized():
        connect()
    actor = _runner().options(num_cpus=job_cpus, num_gpus=job_gpus).remote()
    over = threading.Event()

    def forward_stop():  # the consumer may be blocked waiting for the next event: poll from a thread
        while not over.wait(poll_s):
            if _stop_requested(stop):
                actor.stop.remote()
                return

    watcher = threading.Thread(target=forward_stop, name="lab-ray-stop", daemon=True)
    watcher.start()
    try:
        for ref in actor.run.options(num_returns="streaming").remote(work):
            try:
                yield ray.get(ref)
            except ray.exceptions.RayTaskError as e:
                cause = getattr(e, "cause", None)
                raise (cause if isinstance(cause, BaseException) else e) from None
    finally:
        over.set()
        ray.kill(actor)  # its process's memory (models, datasets) goes with it
