"""What every command group shares: progress bars on stderr, the run history a training command
records into, comma-separated number options, and writing a result as JSON."""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from ..errors import ConfigError, LabError
from ..serve.runs import HistoryError, cli_identity, open_store
from ..train import Event


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


def with_options(base, args):
    """A TrainConfig with the command's --epochs/--seed/--device/--lr/--batch-size applied."""
    changes = {k: getattr(args, k) for k in ("epochs", "seed", "device", "lr", "batch_size")
               if getattr(args, k, None) is not None}
    return replace(base, **changes)


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
