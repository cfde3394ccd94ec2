"""`python -m lab lessons [--check [--seeds N] [--json]]`: the lessons and what each promises;
`--check` trains every lesson (and each dataset's default Distill run) on N seeds and says,
claim by claim, whether it holds on every seed (lab.lessons.check). Exit 1 if one does not."""
from __future__ import annotations

import json
import sys

from ..errors import ConfigError
from ..experiments.common import jsonable
from ..lessons.check import ClaimResult, check, subjects
from .common import threads_option


def cmd_lessons(args) -> int:
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1 (got {args.seeds}).")
    # Naming only lessons checks only them; naming only datasets checks their default runs and the lessons
    # set on them (`--dataset cifar10`: CIFAR-10's lesson too); naming neither checks everything.
    chosen = subjects(args.lesson or None, args.dataset or ([] if args.lesson else None))
    if not args.check:
        rows = [{"lesson": s.name, "claim": c.text, "measure": c.measure, "settings": s.settings}
                for s in chosen for c in s.claims]
        print(json.dumps(rows, indent=2) if args.json else
              "\n".join(f"{r['lesson']}: {r['claim']}" for r in rows))
        return 0
    results = check(chosen, range(args.seeds), report=lambda line: print(line, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(jsonable([r.as_dict() for r in results]), indent=2))
    else:
        print(table(results))
    return 0 if all(r.passed is not False for r in results) else 1


def table(results: list[ClaimResult]) -> str:
    """The check as a Markdown table: claim, value per seed, mean ± spread, pass/fail."""
    lines = ["| lesson | claim | per seed | mean ± spread | result |", "|---|---|---|---|---|"]
    for r in results:
        if r.skipped:
            lines.append(f"| {r.lesson} | {r.claim} | — | — | skipped: {r.skipped} |")
            continue
        per_seed = " / ".join(f"{v:+.1f}" if r.unit == "points" else f"{v:.1f}" for v in r.values)
        spread = f" ± {r.spread:.1f}" if r.spread is not None else ""
        pooled = f"; pooled {r.measure} {r.pooled:+.1f}" if r.pooled is not None else ""
        lines.append(f"| {r.lesson} | {r.claim} | {per_seed} | {r.mean:.1f}{spread} {r.unit}{pooled} | "
                     f"{'pass' if r.passed else 'FAIL'} |")
    return "\n".join(lines)


def register(sub) -> None:
    p = sub.add_parser("lessons", help="the lessons' claims; --check trains them and checks each claim")
    p.add_argument("--check", action="store_true", help="train every lesson on --seeds seeds and check its claims")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    p.add_argument("--json", action="store_true", help="a JSON list, one object per claim")
    p.add_argument("--lesson", action="append", help="only this lesson (repeatable; default: all)")
    p.add_argument("--dataset", action="append",
                   help="only this dataset's default Distill run and its lessons (repeatable; default: every dataset)")
    threads_option(p)
    p.set_defaults(func=cmd_lessons)
