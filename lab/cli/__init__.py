"""`python -m lab …` — the lab from a terminal. Every command consumes the same training
events as the app; progress goes to stderr, results (JSON) to stdout or to files.

One module per command group, each with `register(subparsers)`; adding a group is one new
module here and one line in GROUPS. Shared helpers live in lab/cli/common.py.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from ..device import cap_threads
from ..errors import LabError

GROUPS = (
    "training",      # teacher, distill, evaluate
    "classroom",     # runs, export
    "experiments",   # sweep, omit, transfer-size, methods, calibration, ensemble, convert, gradients
    "frontier",      # frontier, blackbox: the cost-quality frontier; distilling a teacher we can only query
    "lessons",       # lessons [--check]: does every lesson show what it promises?
    "seq",           # seq teacher, seq compare: distilling a sequence model (G2P on CMUdict)
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lab", description="Distillation Lab from the command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        importlib.import_module(f"{__name__}.{group}").register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cap_threads(getattr(args, "threads", None))
    try:
        return args.func(args)
    except LabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted.", file=sys.stderr)
        return 130
