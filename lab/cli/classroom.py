"""The classroom commands: `runs` (the run history: list, filter, delete) and `export`
(a saved model as ONNX or safetensors)."""
from __future__ import annotations

import datetime
import json
from pathlib import Path

from ..errors import LabError
from ..export import FORMATS, export
from ..serve.runs import RunStore, STATUSES, open_store


def cmd_runs(args) -> int:
    store = RunStore(args.db) if args.db else open_store()
    store.mark_incomplete_on_start()
    if args.delete is not None:
        if not store.delete_run(args.delete):
            raise LabError(f"There is no run {args.delete} in {store.path}. List them with `python -m lab runs`.")
        print(json.dumps({"deleted": args.delete}))
        return 0
    runs = store.list_runs(dataset=args.dataset, arch=args.arch, status=args.status, session=args.session,
                           kind=args.kind, limit=args.limit)
    if args.json:
        print(json.dumps([run.as_dict() if args.full else run.summary() for run in runs]))
        return 0
    if not runs:
        print(f"No runs recorded yet in {store.path}.")
        return 0
    header = f"{'id':>5}  {'started':16}  {'kind':10} {'status':10} {'dataset':13} {'model':18} {'test acc':>8}  checkpoint"
    print(header)
    for run in runs:
        started = datetime.datetime.fromtimestamp(run.started_at).strftime("%Y-%m-%d %H:%M")
        acc = run.metrics.get("test_accuracy")
        acc = f"{acc:.2%}" if isinstance(acc, (int, float)) else "-"
        print(f"{run.id:>5}  {started:16}  {run.kind:10} {run.status:10} {run.dataset or '-':13} "
              f"{run.arch or '-':18} {acc:>8}  {run.checkpoint or '-'}")
    return 0


def cmd_export(args) -> int:
    written = export(args.model, args.format, args.out)
    print(json.dumps(written))
    return 0


def register(sub) -> None:
    """Add `runs` and `export` to the `python -m lab` sub-command parsers."""
    p = sub.add_parser("runs", help="list the recorded training runs (the run history)")
    p.add_argument("--json", action="store_true", help="print one JSON list instead of a table")
    p.add_argument("--full", action="store_true", help="with --json: include config, metrics and curves")
    p.add_argument("--dataset")
    p.add_argument("--arch", help="model name")
    p.add_argument("--kind", help="teacher, hard, distilled, ...")
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--session")
    p.add_argument("--limit", type=int)
    p.add_argument("--delete", type=int, metavar="ID", help="delete one run from the history")
    p.add_argument("--db", type=Path, help="history file (default: $LAB_RUNS_DB or <data folder>/runs.sqlite3)")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("export", help="write a saved model as ONNX or safetensors (+ JSON card)")
    p.add_argument("--model", type=Path, required=True, help="a checkpoint folder (model.safetensors + model.json)")
    p.add_argument("--format", choices=FORMATS, default="onnx")
    p.add_argument("--out", type=Path, required=True, help="file to write (safetensors: the card goes beside it as .json)")
    p.set_defaults(func=cmd_export)
