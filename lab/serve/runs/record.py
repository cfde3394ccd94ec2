"""Recording a training run as it goes: a `Recorder` follows one generator of training events
into the history (created at the first event, curves at each epoch, closed with the last event's
status), and who ran it (a session id, the CLI's identity)."""
from __future__ import annotations

import getpass
import os
import uuid

# The training engine's final events -> a run's status (a diverged run failed, with a message).
EVENT_STATUS = {"finished": "finished", "stopped": "stopped", "diverged": "failed"}


class Recorder:
    """Follows one training generator into the history: the row is created at the first
    event, curves are stored at each epoch, and the row is closed when the block ends:
    with the last event's status, or "failed" / "stopped" if an error or Ctrl-C escapes."""

    def __init__(self, store, kind: str, config: dict | None, fields: dict):  # store: a RunStore
        self.store, self.kind, self.config, self.fields = store, kind, config, fields
        self.run_id: int | None = None
        self.last = None
        self.points: list[dict] = []  # one per epoch, stored as the run goes
        self.closed = False

    def __enter__(self) -> "Recorder":
        return self

    def watch(self, events):
        for event in events:
            if self.run_id is None:
                self.run_id = self.store.start_run(self.kind, self.config, **self.fields)
            self.last = event
            if event.kind == "epoch":
                self.points.append({"epoch": event.epoch, "step": event.step, "loss": event.loss,
                                    "train_accuracy": event.train_accuracy, "test_accuracy": event.test_accuracy,
                                    "seconds": event.seconds})
                self.store.update_run(self.run_id, curves=self.points,
                                      metrics={"test_accuracy": event.test_accuracy})
            yield event

    def finish(self, status: str | None = None, **values) -> None:
        if self.run_id is None or self.closed:
            return
        if status is None:
            status = EVENT_STATUS.get(getattr(self.last, "kind", None), "failed")
        result = getattr(self.last, "result", None)
        if result is not None:
            values.setdefault("curves", result.history)
            values["metrics"] = {**result.metrics, **(values.get("metrics") or {})}
            if result.message:
                values.setdefault("message", result.message)
        self.store.finish_run(self.run_id, status, **values)
        self.closed = True

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish()
        elif issubclass(exc_type, (KeyboardInterrupt, GeneratorExit)):
            self.finish("stopped", message="Interrupted.")
        else:
            self.finish("failed", message=str(exc) or exc_type.__name__)


def recorded(store, events, kind: str, config: dict | None = None, **fields):
    """`events`, passed through unchanged, recorded as one run (for a job-queue worker or a page):

        jobs.submit(lambda stop: recorded(store, train_teacher(ds, stop=stop), "teacher", cfg, session=sid))

    Closing the generator early (a closed tab) records the run as "stopped"."""
    with store.recording(kind, config, **fields) as rec:
        yield from rec.watch(events)


def new_session_id() -> str:
    return uuid.uuid4().hex[:12]


def cli_identity() -> dict:
    """session/owner for runs started from a terminal."""
    try:
        owner = getpass.getuser()
    except Exception:  # no user name (some containers)
        owner = None
    return {"session": f"cli-{os.getpid()}", "owner": owner}
