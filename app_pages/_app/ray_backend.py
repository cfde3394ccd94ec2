"""The Ray backend: every job (teacher, pair, experiment) trains in a Ray worker process.

Chosen by `LAB_RAY_ADDRESS` ("auto" = the cluster this machine belongs to, "ray://head:10001" =
a remote one, "local" = a Ray started by this server on its own cores). The job's queue, Stop and
history are the same as with threads: the job waits in this server's FIFO (position, cancel), then
a thread of the server only *receives* its events from the worker (lab.serve.ray_runner) and applies
them to the Job, so training no longer competes with page reruns for this process's interpreter
lock. The FIFO's limit is what the cluster holds at once (its CPUs / LAB_RAY_JOB_CPUS, or
LAB_MAX_JOBS); Ray itself starts a job's actor only where its CPUs (and GPUs) are free, which
makes that limit hold across every server that shares the cluster.
"""
from __future__ import annotations

import logging
import os

from lab.serve import jobs as job_queue
from lab.serve import ray_runner
from lab.serve.tasks import Task, shipped

from .drive import Once, drive

log = logging.getLogger(__name__)


class RayBackend:
    name = "ray"

    def __init__(self, address: str):
        resources = ray_runner.connect(address)
        self.address = address
        self.job_cpus = float(os.environ.get("LAB_RAY_JOB_CPUS", "1"))
        self.job_gpus = float(os.environ.get("LAB_RAY_JOB_GPUS", "0"))
        queue = job_queue.shared_queue()
        if not os.environ.get("LAB_MAX_JOBS"):
            queue.limit = ray_runner.slots(self.job_cpus)
        log.info("Ray backend at %s: %s; %d job(s) at once, %.1f CPU(s) and %.1f GPU(s) each",
                 address, resources, queue.limit, self.job_cpus, self.job_gpus)

    def submit(self, job, work):
        # A Task is the same one a worker process runs; off this machine, the dataset and the
        # teachers travel inside it (a remote worker does not share this disk).
        if isinstance(work, Task) and self.address != "local":
            work = shipped(work)

        def remote(stop):
            return ray_runner.remote_events(work, stop, job_cpus=self.job_cpus, job_gpus=self.job_gpus)

        once = Once.for_job(job, lambda _stop: drive(job, remote))  # forgotten once run or cancelled
        return job_queue.shared_queue().submit(once, label=job.label, owner=job.owner, stop=job.stop,
                                               session=job.session_id)
