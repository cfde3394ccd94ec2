"""`python -m lab frontier | blackbox`: what a cheaper student costs in quality, and what a
teacher we can only query (per image, returning little) still teaches. The experiments live in
lab/experiments/frontier.py and blackbox.py; here only their options. Each writes DIR/<name>.json
and prints it (stdout), with one progress bar over the whole experiment (stderr)."""
from __future__ import annotations

from pathlib import Path

from .. import checkpoints
from ..data import load
from ..device import DEVICES
from ..models import MODELS
from .common import drain, ints, write_json


def _teacher(folder):
    teacher, card = checkpoints.load(folder)
    return teacher, load(card["dataset"])


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _given(**options) -> dict:
    return {k: v for k, v in options.items() if v is not None}


def cmd_frontier(args) -> int:
    from ..experiments import frontier
    teacher, dataset = _teacher(args.teacher)
    config = frontier.FrontierConfig(**_given(
        students=args.students, temperature=args.temperature, alpha=args.alpha, seeds=args.seeds,
        epochs=args.epochs, device=args.device))
    result = drain(frontier.experiment(dataset, teacher, config, use_cache=not args.no_cache), "frontier")
    return write_json(args.out, "frontier.json", result)


def cmd_blackbox(args) -> int:
    from ..experiments import blackbox
    teacher, dataset = _teacher(args.teacher)
    config = blackbox.BlackBoxConfig(**_given(
        settings=args.settings, budgets=args.budgets, student=args.student, temperature=args.temperature,
        alpha=args.alpha, seeds=args.seeds, epochs=args.epochs, device=args.device))
    result = drain(blackbox.experiment(dataset, teacher, config, use_cache=not args.no_cache), "blackbox")
    return write_json(args.out, "blackbox.json", result)


def register(sub) -> None:
    def common(p):
        p.add_argument("--teacher", type=Path, required=True, help="a folder written by `teacher`")
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("--temperature", type=float)
        p.add_argument("--alpha", type=float, help="weight of the teacher's term (0..1)")
        p.add_argument("--seeds", type=ints, help="comma-separated, default 0,1")
        p.add_argument("--epochs", type=int, help="passes over the whole training set per run (default 30)")
        p.add_argument("--device", choices=DEVICES, default="auto")
        p.add_argument("--threads", type=int, help="CPU threads to use (default: the free cores)")
        p.add_argument("--no-cache", action="store_true", dest="no_cache", help="recompute even if cached")

    p = sub.add_parser("frontier", help="accuracy against size and speed: a ladder of students, labels vs distilled")
    common(p)
    p.add_argument("--students", type=_names, help="comma-separated ladder, largest first (default: 7 rungs, "
                                                   "2x to 270x fewer parameters than teacher-cnn)")
    p.set_defaults(func=cmd_frontier)

    p = sub.add_parser("blackbox", help="distill a teacher you can only query: top-k, answers, no labels, a budget")
    common(p)
    p.add_argument("--settings", type=_names, help="comma-separated, default full-logits,top-5,top-2,top-1,answer,"
                                                   "unlabeled (any top-<k>)")
    p.add_argument("--budgets", type=ints, help="teacher queries, comma-separated (default: 1/16 to 2x the "
                                                "training set; beyond it, augmented copies)")
    p.add_argument("--student", choices=list(MODELS))
    p.set_defaults(func=cmd_blackbox)

