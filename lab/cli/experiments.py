"""`python -m lab sweep | omit | transfer-size | methods | calibration | ensemble | convert | gradients`.

The experiments live in lab/experiments/; here only their options. Each command draws one
progress bar over the whole experiment (stderr), writes DIR/<name>.json and prints it (stdout).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError
from ..models import MODELS
from ..objectives import OBJECTIVES, soft_gradient_norms
from .common import (DISTILL_RUN, config_from_args, drain, experiment_options, floats, ints, load_teacher, names,
                     write_json)

# Each command names the options it takes from the dataset's measured defaults when they are left
# out (`follow`): those for which it borrows the Distill run's settings. Omit keeps Hinton et al.'s
# own (a 2×800 student, T = 8, α = 1, 30 epochs) and methods its CNN student and short schedule.


def cmd_sweep(args) -> int:
    from ..experiments import sweep
    teacher, dataset = load_teacher(args.teacher)
    config = config_from_args(sweep.SweepConfig(), args, dataset.name, follow=("student", "epochs"))
    result = drain(sweep.experiment(dataset, teacher, config, use_cache=not args.no_cache), "sweep")
    return write_json(args.out, "sweep.json", result)


def cmd_omit(args) -> int:
    from ..experiments import omit
    teacher, dataset = load_teacher(args.teacher)
    config = config_from_args(omit.OmitConfig(), args)
    result = drain(omit.experiment(dataset, teacher, config, use_cache=not args.no_cache), "omit")
    return write_json(args.out, "omit.json", result)


def cmd_transfer_size(args) -> int:
    from ..experiments import transfer_size
    teacher, dataset = load_teacher(args.teacher)
    config = config_from_args(transfer_size.TransferSizeConfig(), args, dataset.name, follow=DISTILL_RUN)
    result = drain(transfer_size.experiment(dataset, teacher, config, use_cache=not args.no_cache), "transfer-size")
    return write_json(args.out, "transfer_size.json", result)


def cmd_methods(args) -> int:
    from ..experiments import methods
    teacher, dataset = load_teacher(args.teacher)
    config = config_from_args(methods.MethodsConfig(), args, dataset.name, follow=("temperature", "alpha"))
    result = drain(methods.experiment(dataset, teacher, config, use_cache=not args.no_cache), "methods")
    return write_json(args.out, "methods.json", result)


def cmd_calibration(args) -> int:
    from ..experiments import methods
    teacher, dataset = load_teacher(args.teacher)
    config = config_from_args(methods.calibration_config(), args, dataset.name, follow=DISTILL_RUN)
    result = drain(methods.calibration(dataset, teacher, config, use_cache=not args.no_cache), "calibration")
    return write_json(args.out, "calibration.json", result)


def cmd_ensemble(args) -> int:
    from ..experiments import ensemble
    folders = [Path(p) for p in names(args.teachers)]
    loaded = [load_teacher(f) for f in folders]
    if len(loaded) < 2:
        raise ConfigError("Give at least two teacher folders: --teachers DIR1,DIR2.")
    datasets = {d.name for _, d in loaded}
    if len(datasets) != 1:
        raise ConfigError(f"The teachers were trained on different datasets ({', '.join(sorted(datasets))}).")
    dataset = loaded[0][1]
    config = config_from_args(ensemble.EnsembleConfig(), args, dataset.name, follow=DISTILL_RUN)
    result = drain(ensemble.experiment(dataset, [t for t, _ in loaded], config, use_cache=not args.no_cache),
                   "ensemble")
    result = {**result, "teachers": [str(f) for f in folders]}
    return write_json(args.out, "ensemble.json", result)


def cmd_convert(args) -> int:
    from ..experiments.conventions import translate
    settings = {"temperature": args.temperature, "alpha": args.alpha, "beta": args.beta,
                "soft_target_loss_weight": args.soft_weight, "ce_loss_weight": args.ce_weight}
    print(json.dumps(translate(settings, args.source, args.target)))
    return 0


def cmd_gradients(args) -> int:
    """Soft-term gradient norm vs T for each loss variant, on the teacher's test logits against an
    untrained student's (what the student feels at the start of training)."""
    from ..recipes import init_model
    from ..experiments.common import test_logits
    teacher, dataset = load_teacher(args.teacher)
    student = init_model(args.student, dataset, 0)
    result = soft_gradient_norms(test_logits(student, dataset), test_logits(teacher, dataset), args.temperatures)
    if args.out:
        return write_json(args.out, "gradients.json", result)
    print(json.dumps(result))
    return 0


def register(sub) -> None:
    """Add the experiment subcommands to `python -m lab`'s subparsers."""
    from ..experiments.conventions import CONVENTIONS

    def student(p, follows=True):
        p.add_argument("--student", choices=list(MODELS),
                       help="default: the dataset's (lab/lessons/dataset_defaults.py)" if follows else None)

    def kd(p, seeds=False, follows=True):
        default = " (default: the dataset's)" if follows else ""
        p.add_argument("--temperature", type=float, help=f"softening temperature T{default}")
        p.add_argument("--alpha", type=float, help=f"weight of the soft targets (0..1){default}")
        if seeds:
            p.add_argument("--seeds", type=ints, help="comma-separated, e.g. 0,1")
        else:
            p.add_argument("--seed", type=int)

    p = sub.add_parser("sweep", help="test accuracy over a temperature × alpha grid (several seeds)")
    experiment_options(p)
    student(p)
    p.add_argument("--temperatures", type=floats, help="comma-separated, default 1,2,4,8,16")
    p.add_argument("--alphas", type=floats, help="comma-separated, default 0,0.25,0.5,0.75,0.9,1")
    p.add_argument("--seeds", type=ints, help="comma-separated, default 0,1")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("omit", help="distill without one class; per-class accuracy and a bias correction")
    experiment_options(p)
    student(p, follows=False)
    p.add_argument("--class", type=int, dest="omitted_class", help="the class left out (default 3)")
    p.add_argument("--no-augment", action="store_false", dest="augment", default=None,
                   help="train on the transfer images as they are (default: shifted each epoch, teacher asked live)")
    kd(p, follows=False)
    p.set_defaults(func=cmd_omit)

    p = sub.add_parser("transfer-size", help="hard-label vs distilled accuracy on growing training fractions")
    experiment_options(p)
    student(p)
    p.add_argument("--fractions", type=floats, help="default 0.02,0.05,0.1,0.25,0.5,1")
    kd(p, seeds=True)
    p.set_defaults(func=cmd_transfer_size)

    p = sub.add_parser("methods", help="compare distillation objectives (KD, hint, attention, pseudo-labels…)")
    experiment_options(p)
    student(p, follows=False)
    p.add_argument("--methods", type=names, help=f"comma-separated, from: {', '.join(OBJECTIVES)}")
    kd(p, seeds=True)  # default 0,1,2: the methods differ by about one run's noise
    p.set_defaults(func=cmd_methods)

    p = sub.add_parser("calibration", help="reliability diagrams, ECE and agreement: teacher, hard, distilled")
    experiment_options(p)
    student(p)
    kd(p, seeds=True)
    p.set_defaults(func=cmd_calibration)

    p = sub.add_parser("ensemble", help="distill an ensemble's averaged soft targets into one student")
    p.add_argument("--teachers", required=True, help="comma-separated teacher folders")
    experiment_options(p, teacher=False)
    student(p)
    kd(p)
    p.set_defaults(func=cmd_ensemble)

    p = sub.add_parser("convert", help="translate (T, alpha) between KD code conventions")
    p.add_argument("--from", dest="source", choices=list(CONVENTIONS), required=True)
    p.add_argument("--to", dest="target", choices=list(CONVENTIONS), required=True)
    p.add_argument("--temperature", type=float, required=True)
    p.add_argument("--alpha", type=float)
    p.add_argument("--beta", type=float)
    p.add_argument("--soft-weight", type=float, dest="soft_weight", help="pytorch-tutorial soft_target_loss_weight")
    p.add_argument("--ce-weight", type=float, dest="ce_weight", help="pytorch-tutorial ce_loss_weight")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("gradients", help="soft-term gradient norm vs T: with T², without T², KL mean")
    p.add_argument("--teacher", type=Path, required=True)
    p.add_argument("--student", choices=list(MODELS), default="student-mlp")
    p.add_argument("--temperatures", type=floats, default=(1, 2, 4, 8, 16, 32))
    p.add_argument("--out", type=Path)
    p.set_defaults(func=cmd_gradients)
