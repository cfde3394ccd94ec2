"""The training commands: `teacher`, `distill` (a hard-label and a distilled student from one
init) and `evaluate` (a saved model's accuracy on a test set)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .. import checkpoints
from ..compare import pair_evidence
from ..data import DATASETS, load, load_idx_test_set
from ..device import DEVICES
from ..errors import LabError
from ..models import DEFAULT_TEACHER, STUDENTS, TEACHERS, MODELS
from ..objectives import OBJECTIVES
from ..recipes import (STUDENT_CONFIG, TEACHER_CONFIG, TEACHER_RECIPE_NAMES, distill_pair, save_result,
                       student_recipe, teacher_recipe, train_teacher)
from ..serve.runs import new_session_id
from .common import config_from_args, dataset_option, history, last_event, progress, threads_option


def training_options(p, default_epochs):
    """The options every training command shares."""
    p.add_argument("--epochs", type=int, help=f"passes over the training set (default {default_epochs})")
    p.add_argument("--seed", type=int, help="random seed for weights and batches (default 0)")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--device", choices=DEVICES, default="auto")
    threads_option(p)


def cmd_teacher(args) -> int:
    dataset = load(args.dataset)
    recipe = teacher_recipe(dataset.name, args.recipe)  # the dataset's teacher: architecture and training
    config = config_from_args(recipe.config, args)
    arch = args.model or recipe.arch
    store, who = history()
    with store.recording("teacher", config.as_dict(), dataset=dataset.name, arch=arch, **who) as rec:
        event = last_event(progress(rec.watch(train_teacher(dataset, arch, config)), f"teacher {arch}"))
        if event.kind == "diverged":
            raise LabError(event.message)
        card = save_result(args.out, event.result, dataset, config, role="teacher", recipe=args.recipe)
        rec.finish(metrics=card["metrics"], checkpoint=str(args.out))
    print(json.dumps({k: card["metrics"][k] for k in ("test_accuracy", "params", "bytes", "seconds")}))
    return 0


def _take_while_run(pairs, name):
    """Events of one run from distill_pair's stream; stops after that run's final event."""
    for run, event in pairs:
        assert run == name, (run, name)
        yield run, event
        if event.done:
            return


def card_numbers(metrics: dict, more: tuple[str, ...] = ()) -> dict:
    """A model card's numbers for summary.json. The card's latency was measured when the card was
    made, at another moment under another load: it is kept as `recorded_latency_ms`, never under a
    name that reads as measured now (the live, interleaved numbers are summary.json's `speed`)."""
    numbers = {k: metrics.get(k) for k in ("test_accuracy", "params", "bytes", *more)}
    return {**numbers, "recorded_latency_ms": metrics.get("latency_ms", metrics.get("latency_ms_b1"))}


def cmd_distill(args) -> int:
    teacher, teacher_card = checkpoints.load(args.teacher)
    dataset = load(teacher_card["dataset"])
    # Options left out take the dataset's measured defaults (lab/lessons/dataset_defaults.py: T, α, epochs differ).
    args.student, args.temperature, args.alpha, args.transfer = (
        dataset_option(args, name, dataset.name) for name in ("student", "temperature", "alpha", "transfer"))
    if args.transfer is not None and args.transfer < 0:
        raise LabError(f"--transfer is a number of training images (got {args.transfer}): give 1 or more, or 0 for all.")
    config = config_from_args(student_recipe(dataset.name, args.student), args, dataset.name, follow=("epochs",))
    pairs = distill_pair(dataset, teacher, args.student, args.temperature, args.alpha, config,
                         method=args.method, transfer=args.transfer or None)
    out = Path(args.out)
    summary = {"teacher": card_numbers(teacher_card["metrics"]),
               "temperature": args.temperature, "alpha": args.alpha, "student": args.student, "seed": config.seed,
               "method": args.method, "transfer": min(args.transfer or len(dataset.train_labels), len(dataset.train_labels))}
    store, who = history()
    group = f"distill-{new_session_id()}"
    students = {}
    # One progress bar and one recorded run per student: split the (name, event) stream by name.
    for name in ("hard", "distilled"):
        extra = {"temperature": args.temperature, "alpha": args.alpha, "method": args.method} if name == "distilled" else {}
        with store.recording(name, {**config.as_dict(), **extra, "teacher_dir": str(args.teacher)},
                             dataset=dataset.name, arch=args.student, group_id=group, **who) as rec:
            events = rec.watch(event for run, event in _take_while_run(pairs, name))
            final = last_event(progress(events, f"{name} {args.student}"))
            if final is None:
                break
            if final.kind != "finished":
                raise LabError(final.message)
            card = save_result(out / name, final.result, dataset, config, teacher=teacher, role=name,
                               temperature=args.temperature if name == "distilled" else None,
                               alpha=args.alpha if name == "distilled" else None,
                               method=args.method if name == "distilled" else None, teacher_dir=str(args.teacher))
            rec.finish(metrics=card["metrics"], checkpoint=str(out / name))
        summary[name] = card_numbers(card["metrics"], ("agreement", "ece", "seconds"))
        students[name] = final.result.model
    if len(students) == 2:
        summary.update(pair_evidence(teacher, students["hard"], students["distilled"], dataset,
                                     teacher_card["metrics"], summary["hard"], summary["distilled"]))
        print(summary["verdict"], file=sys.stderr)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
    return 0


def cmd_evaluate(args) -> int:
    from ..metrics import accuracy, predict_logits

    model, card = checkpoints.load(args.model)
    if args.idx_dir:
        images, labels = load_idx_test_set(args.idx_dir)
        if list(images.shape[1:]) != card["input_shape"]:
            raise LabError(f"The images in {args.idx_dir} are {list(images.shape[1:])}, but the model takes "
                           f"{card['input_shape']}.")
        refuse_unlike_images(card, images, args.idx_dir)
    else:
        dataset = load(args.dataset)
        if list(dataset.shape) != card["input_shape"]:
            raise LabError(f"{args.dataset} images are {list(dataset.shape)}, but the model takes {card['input_shape']}.")
        refuse_other_dataset(card, dataset)
        images, labels = dataset.test_images, dataset.test_labels
    if labels.numel() and int(labels.max()) >= len(card["classes"]):
        raise LabError(f"The labels go up to {int(labels.max())}, but the model knows {len(card['classes'])} classes.")
    logits = predict_logits(model, images, card["mean"], card["std"])
    print(json.dumps({"accuracy": accuracy(logits, labels), "n": len(labels)}))
    return 0


def _classes(names) -> str:
    names = [str(n) for n in names]
    return ", ".join(names[:3]) + (", …" if len(names) > 3 else "")


def refuse_other_dataset(card: dict, dataset) -> None:
    """A model scores only the kind of images it was trained on (a digit model on clothes measures
    nothing): refuse a dataset with other classes than the card's. mnist-sample and mnist share them."""
    if [str(c) for c in card["classes"]] != [str(c) for c in dataset.classes]:
        raise LabError(f"This model was trained on {card.get('dataset')} ({_classes(card['classes'])}), not on "
                       f"{dataset.name} ({_classes(dataset.classes)}): its accuracy there would mean nothing. "
                       f"Evaluate it with --dataset {card.get('dataset')}, or pick a model trained on {dataset.name}.")


# How far (in the card's pixel standard deviations) a folder's mean brightness may lie from the training
# images' before the folder counts as another kind of image: test splits of one dataset agree to ~0.01
# (mnist-sample 0.130 vs 0.132), while MNIST (0.13) and Fashion-MNIST (0.29) are half a std apart.
BRIGHTNESS_TOLERANCE = 0.25


def refuse_unlike_images(card: dict, images, folder) -> None:
    """IDX files carry no dataset name: compare the images' mean brightness per channel with that of
    the training images the card records, and refuse images of another kind."""
    import torch
    mean = images.double().mean(dim=(0, 2, 3)) / 255  # (C,)
    card_mean, card_std = torch.tensor(card["mean"], dtype=torch.float64), torch.tensor(card["std"], dtype=torch.float64)
    if images.numel() and ((mean - card_mean).abs() > BRIGHTNESS_TOLERANCE * card_std).any():
        raise LabError(f"The images in {folder} do not look like the {card.get('dataset')} images this model was "
                       f"trained on ({_classes(card['classes'])}): their mean brightness is "
                       f"{', '.join(f'{m:.3f}' for m in mean.tolist())}, the training images' "
                       f"{', '.join(f'{m:.3f}' for m in card_mean.tolist())}. Give a folder of {card.get('dataset')} "
                       "test images, or pick a model trained on these images.")


def register(sub) -> None:
    """Add `teacher`, `distill` and `evaluate` to the `python -m lab` subparsers."""
    p = sub.add_parser("teacher", help="train a teacher and save it to --out")
    p.add_argument("--dataset", choices=DATASETS, default="mnist-sample")
    p.add_argument("--model", choices=TEACHERS + STUDENTS,
                   help=f"default: the dataset's recipe's ({DEFAULT_TEACHER}; cifar10: {teacher_recipe('cifar10').arch})")
    p.add_argument("--recipe", choices=TEACHER_RECIPE_NAMES, default="live",
                   help="live: minutes (the Teacher page's); shipped: how the pretrained teacher in assets/ was "
                        "trained (cifar10: about half an hour on 2 cores)")
    training_options(p, f"the recipe's; {TEACHER_CONFIG.epochs} on digits, "
                        f"{teacher_recipe('cifar10').config.epochs} on cifar10")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_teacher)

    p = sub.add_parser("distill", help="train a hard-label and a distilled student from one init")
    p.add_argument("--teacher", type=Path, required=True, help="a folder written by `teacher`")
    p.add_argument("--student", choices=list(MODELS), help="default: the dataset's (lab/lessons/dataset_defaults.py)")
    p.add_argument("--temperature", type=float, help="default: the dataset's (mnist-sample 4, fashion-mnist 2)")
    p.add_argument("--alpha", type=float, help="weight of the soft targets, 0..1 (default: the dataset's; "
                                               "mnist-sample 0.9, fashion-mnist 0.25)")
    p.add_argument("--method", choices=[m for m in OBJECTIVES if m != "labels"], default="kd",
                   help="what the distilled student learns from (default kd: logit distillation; see EXPERIMENTS.md)")
    p.add_argument("--transfer", type=int, help="the students learn from the first N training images "
                                                "(default: the dataset's; cifar10 10,000; 0: all)")
    training_options(p, f"the dataset's; mnist-sample {STUDENT_CONFIG.epochs}")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_distill)

    p = sub.add_parser("evaluate", help="accuracy of a saved model on a test set")
    p.add_argument("--model", type=Path, required=True)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--dataset", choices=DATASETS)
    group.add_argument("--idx-dir", type=Path, dest="idx_dir")
    p.set_defaults(func=cmd_evaluate)
