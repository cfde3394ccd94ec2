"""`python -m lab frontier | blackbox`: what a cheaper student costs in quality, and what a
teacher we can only query (per image, returning little) still teaches. The experiments live in
lab/experiments/frontier.py and blackbox.py; here only their options. Each writes DIR/<name>.json
and prints it (stdout), with one progress bar over the whole experiment (stderr)."""
from __future__ import annotations

from ..models import MODELS
from .common import DISTILL_RUN, config_from_args, drain, experiment_options, ints, load_teacher, names, write_json


def cmd_frontier(args) -> int:
    from ..experiments import frontier
    teacher, dataset = load_teacher(args.teacher)
    config = config_from_args(frontier.FrontierConfig(), args, dataset.name, follow=("temperature", "alpha", "epochs"))
    result = drain(frontier.experiment(dataset, teacher, config, use_cache=not args.no_cache), "frontier")
    return write_json(args.out, "frontier.json", result)


def cmd_blackbox(args) -> int:
    from ..experiments import blackbox
    teacher, dataset = load_teacher(args.teacher)
    config = config_from_args(blackbox.BlackBoxConfig(), args, dataset.name, follow=DISTILL_RUN)
    result = drain(blackbox.experiment(dataset, teacher, config, use_cache=not args.no_cache), "blackbox")
    return write_json(args.out, "blackbox.json", result)


def register(sub) -> None:
    def common(p):
        experiment_options(p)
        p.add_argument("--temperature", type=float, help="softening temperature T (default: the dataset's)")
        p.add_argument("--alpha", type=float, help="weight of the teacher's term, 0..1 (default: the dataset's)")
        p.add_argument("--seeds", type=ints, help="comma-separated, default 0,1")

    p = sub.add_parser("frontier", help="accuracy against size and speed: a ladder of students, labels vs distilled")
    common(p)
    p.add_argument("--students", type=names, help="comma-separated ladder, largest first (default: 7 rungs, "
                                                   "2x to 270x fewer parameters than teacher-cnn)")
    p.set_defaults(func=cmd_frontier)

    p = sub.add_parser("blackbox", help="distill a teacher you can only query: top-k, answers, no labels, a budget")
    common(p)
    p.add_argument("--settings", type=names, help="comma-separated, default full-logits,top-5,top-2,top-1,answer,"
                                                   "unlabeled (any top-<k>)")
    p.add_argument("--budgets", type=ints, help="teacher queries, comma-separated (default: 1/16 to 2x the "
                                                "training set; beyond it, augmented copies)")
    p.add_argument("--student", choices=list(MODELS), help="default: the dataset's")
    p.set_defaults(func=cmd_blackbox)
