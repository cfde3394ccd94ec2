"""A job's rows in the run history (lab.serve.runs) and its files beside it (app-runs/run-<id>/).

One row per Run of a job: a teacher, each student of a pair, an experiment. A history that fails
never fails the job: the job's message says it was not recorded (and the log has why).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from lab import checkpoints
from lab.data import data_dir, load
from lab.errors import LabError

log = logging.getLogger(__name__)
RESULT = "result.json"  # an experiment's full result, reloaded on demand (memory caps, restarts)


def checkpoint_root(store=None) -> Path:
    """Where finished app runs save their models: beside the history file that points to them."""
    return (store.path.parent if store is not None else data_dir()) / "app-runs"


def _write(job, method: str, *args, **kwargs):
    if job.store is None or (method != "start_run" and args[0] is None):
        return None
    try:
        return getattr(job.store, method)(*args, **kwargs)
    except LabError as e:
        log.warning("%s: the run history refused %s: %s", job.key, method, e, exc_info=True)
        job.message = (job.message + " " if job.message else "") + f"(Not recorded in the history: {e})"
        return None


def start(job) -> None:
    for run in job.runs.values():
        run.record_id = _write(job, "start_run", run.name, run.config, dataset=job.dataset_name, arch=run.arch,
                               name=f"{run.name} · {job.label}", group_id=f"{job.owner}-{job.key}",
                               session=job.owner, owner=job.owner)


def update(job, run) -> None:
    """An epoch ended: its curve and accuracy so far (also the row's heartbeat)."""
    _write(job, "update_run", run.record_id, curves=run.history, metrics={"test_accuracy": run.last.test_accuracy})


def finish(job, run) -> None:
    """Close the run's row: finished (this model or experiment got to the end), stopped, or failed."""
    if run.record_id is None:
        return
    if job.status == "error" or run.status == "diverged":
        status = "failed"
    elif run.status == "finished":
        status = "finished"  # this model trained to the end (its partner may have been stopped)
    else:
        status = "stopped"   # Stop, a closed tab
    metrics = dict(run.metrics or {})
    result = getattr(run.last, "result", None)
    if not metrics and hasattr(result, "metrics"):  # a training run stopped early: what it measured so far
        metrics = dict(result.metrics or {})
    if job.kind == "experiment" and status == "finished" and job.result is not None:
        _save_result(job, run)
    _write(job, "finish_run", run.record_id, status, metrics=metrics, curves=run.history or None,
           checkpoint=run.checkpoint, message=run.message or job.message or None)


def save_checkpoint(job, run) -> None:
    """A finished model as safetensors + card (what the History page exports and a reload restores)."""
    if job.store is None or run.record_id is None:
        return
    folder = checkpoint_root(job.store) / f"run-{run.record_id}"
    try:
        data = load(job.dataset_name)
        card = checkpoints.make_card(run.weights, data, run.metrics, role=run.name, config=job.settings,
                                     run_id=run.record_id, label=job.label)
        checkpoints.save(folder, run.weights.cpu(), card)
        run.checkpoint = str(folder)
    except (OSError, LabError) as e:
        log.warning("%s: the model of run %s could not be saved: %s", job.key, run.record_id, e, exc_info=True)
        run.message = (run.message + " " if run.message else "") + f"(The model could not be saved: {e})"


def _save_result(job, run) -> None:
    """An experiment's whole result (test logits included) as JSON: memory keeps only the latest."""
    folder = checkpoint_root(job.store) / f"run-{run.record_id}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / RESULT).write_text(json.dumps(job.result, default=_plain))
    except (OSError, TypeError, ValueError) as e:
        log.warning("%s: the result of run %s could not be saved: %s", job.key, run.record_id, e, exc_info=True)


def _plain(value):
    """Tensors and numpy values in a result, as JSON numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


def load_result(store, run) -> dict | None:
    """A recorded experiment's saved result, or None (never saved, deleted, damaged)."""
    path = checkpoint_root(store) / f"run-{run.id}" / RESULT
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        log.warning("run %s: its saved result cannot be read: %s", run.id, e)
        return None
    return result if isinstance(result, dict) else None
