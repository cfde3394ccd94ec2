"""What every command group shares: the options every command of a kind takes (--threads, an
experiment's --teacher/--epochs/--device/--no-cache/--out), one way to turn the options into a
config (with the dataset's measured defaults for those left out), progress bars on stderr, the run
history a training command records into, comma-separated options, and writing a result as JSON."""
from __future__ import annotations

import json
import sys
from dataclasses import fields, replace
from pathlib import Path

from .. import checkpoints
from ..data import load
from ..device import DEVICES
from ..errors import ConfigError, LabError
from ..lessons.dataset_defaults import defaults_for
from ..serve.runs import HistoryError, cli_identity, open_store
from ..train import Event


def threads_option(p) -> None:
    """--threads, as lab.device.cap_threads reads it (main() applies it before the command runs)."""
    p.add_argument("--threads", type=int, help="CPU threads for PyTorch (default: $LAB_THREADS, else the cores "
                                               "other processes leave free when the command starts)")


def experiment_options(p, teacher: bool = True) -> None:
    """The options every experiment command shares."""
    if teacher:
        p.add_argument("--teacher", type=Path, required=True, help="a folder written by `teacher`")
    p.add_argument("--epochs", type=int, help="passes over the whole training set per run")
    p.add_argument("--device", choices=DEVICES, default="auto")
    threads_option(p)
    p.add_argument("--no-cache", action="store_true", dest="no_cache", help="recompute even if cached")
    p.add_argument("--out", type=Path, required=True, help="folder to write <experiment>.json into")


def load_teacher(folder):
    """(teacher model, the dataset it was trained on) from a folder written by `teacher`."""
    teacher, card = checkpoints.load(folder)
    return teacher, load(card["dataset"])


# The settings of a dataset's default Distill run that a command may take when they are left out.
DISTILL_RUN = ("student", "temperature", "alpha", "epochs")


def dataset_option(args, name: str, dataset: str):
    """The option `name` as given on the command line, else `dataset`'s measured default
    (lab/lessons/dataset_defaults.py: student, temperature, alpha, epochs)."""
    given = getattr(args, name, None)
    return getattr(defaults_for(dataset), name) if given is None else given


def config_from_args(base, args, dataset: str | None = None, follow: tuple[str, ...] = ()):
    """`base` (a frozen config dataclass) with every option given on the command line applied: the
    argument of the same name as a field, when it is not None. The fields in `follow` that were left
    out take `dataset`'s measured default instead of `base`'s: `follow` names the settings where a
    command borrows the lab's Distill default (T = 4, α = 0.9 on mnist-sample; T = 2, α = 0.25 on
    Fashion-MNIST), not those an experiment chose for its own lesson (omit's T = 8, methods' CNN)."""
    names = {f.name for f in fields(base)}
    assert set(follow) <= names, (follow, type(base).__name__)
    changes = {name: dataset_option(args, name, dataset) for name in follow}
    changes.update({name: getattr(args, name) for name in names - set(follow)
                    if getattr(args, name, None) is not None})
    return replace(base, **changes)


def progress(events, label: str):
    """Pass training events through, drawing a tqdm bar (ETA, images/s, loss, test accuracy) on stderr."""
    from tqdm import tqdm

    bar = None
    event = None
    for event in events:
        if bar is None:
            bar = tqdm(total=event.total_steps, desc=label, unit="step", file=sys.stderr, leave=True,
                       dynamic_ncols=True, mininterval=0.2 if sys.stderr.isatty() else 2.0)
        bar.update(event.step - bar.n)
        if event.kind in ("step", "epoch"):
            shown = {"loss": f"{event.loss:.3f}", "img/s": f"{event.images_per_s:,.0f}"}
            if event.test_accuracy is not None:
                shown["test"] = f"{event.test_accuracy:.2%}"
            bar.set_postfix(shown, refresh=False)
        yield event
    if bar is not None:
        bar.close()


def last_event(events) -> Event:
    event = None
    for event in events:
        pass
    return event


class _NoHistory:
    """Stands in for the store when the history cannot be opened: training still runs."""

    def recording(self, kind, config=None, **fields):
        from ..serve.runs import Recorder

        class Null(Recorder):
            def watch(self, events):
                yield from events

            def finish(self, status=None, **values):
                pass
        return Null(None, kind, config, fields)


def history():
    """The run history for a CLI command (with this process's session/owner), or a stand-in
    that records nothing, after one warning line, if the history file is unusable."""
    try:
        store = open_store()
    except HistoryError as e:
        print(f"warning: {e} This run is not recorded.", file=sys.stderr)
        return _NoHistory(), {}
    return store, cli_identity()


def floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"Expected comma-separated numbers, e.g. 1,2,4 (got {text!r}).") from None


def ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"Expected comma-separated whole numbers, e.g. 0,1 (got {text!r}).") from None


def names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def drain(progress_events, label: str) -> dict:
    """Consume an experiment's Progress events with one tqdm bar; return the result or raise."""
    from tqdm import tqdm

    bar = tqdm(total=1000, desc=label, unit="‰", file=sys.stderr, disable=None, dynamic_ncols=True)
    final = None
    for final in progress_events:
        bar.update(int(final.fraction * 1000) - bar.n)
        if final.run:
            bar.set_postfix_str(final.run, refresh=False)
    bar.close()
    if final.status != "finished":
        raise LabError(f"{label} did not finish: {final.message}")
    if final.message == "from cache":
        print(f"{label}: result from the cache (pass --no-cache to recompute).", file=sys.stderr)
    return final.result


def write_json(out: Path, name: str, result: dict) -> int:
    """Write OUT/name and print it (or, if it is long, where it was written)."""
    from ..experiments.common import jsonable
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(jsonable(result), indent=1)
    (out / name).write_text(text)
    print(text if len(text) < 20000 else json.dumps({"written": str(out / name)}))
    return 0
