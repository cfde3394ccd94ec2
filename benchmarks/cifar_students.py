"""CIFAR-10 students: the hard-label student and distilled students (a T × α grid) of one seed
trained from the same initial weights and batches, with the teacher's logits cached on the
un-augmented images ("cached", the student sees fixed images) or asked live on the student's own
augmented view ("live", Beyer et al. 2022's function matching). One JSON line per run.

    LAB_DATA_DIR=../shared/data flock /tmp/heavy.lock nice -n 5 python benchmarks/cifar_students.py \\
        --teacher assets/teacher-cifar10 --student student-airbench-100x --mode cached --epochs 30 \\
        --transfer 10000 --T 4 --alpha 0.9 --seeds 0,1,2,3,4 --out /tmp/students.jsonl

Each line: seed, mode, student, T, α, epochs, test accuracy, training seconds and CPU seconds of
that run, the teacher-logits seconds (cached mode, once per process), the 1-minute load average.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lab import checkpoints  # noqa: E402
from lab.data import load  # noqa: E402
from lab.losses import HardLabels, SoftTargets  # noqa: E402
from lab.recipes import init_model, student_recipe, teacher_train_logits  # noqa: E402
from lab.train import TrainConfig, train  # noqa: E402


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(model, dataset, objective, config) -> dict:
    cpu0 = cpu_seconds()
    for event in train(model, dataset, objective, config, eval_each_epoch=False):
        pass
    assert event.kind == "finished", event.message
    return {"test_accuracy": event.test_accuracy, "seconds": round(event.seconds, 1),
            "cpu_seconds": round(cpu_seconds() - cpu0, 1), "load": round(os.getloadavg()[0], 2)}


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", type=Path, required=True)
    p.add_argument("--student", default="student-airbench-100x")
    p.add_argument("--mode", choices=("cached", "live"), default="cached")
    p.add_argument("--epochs", type=int, default=student_recipe("cifar10").epochs)
    p.add_argument("--batch", type=int, default=student_recipe("cifar10").batch_size)
    p.add_argument("--lr", type=float, help="default: sgd the recipe's (0.75 at batch 512, scaled with the batch); adamw 5e-3")
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd", help="adamw: the digit students' recipe")
    p.add_argument("--T", default="4")
    p.add_argument("--alpha", default="0.9")
    p.add_argument("--seeds", default="0")
    p.add_argument("--transfer", type=int, help="train on the first N training images only")
    p.add_argument("--validation", type=int,
                   help="hold out the last N training images and score every run on them instead of the "
                        "test set: settings chosen without looking at the test set")
    p.add_argument("--no-hard", action="store_true", help="skip the hard-label student")
    p.add_argument("--teacher-tta", choices=("on", "off"), default="on", help="live mode: the teacher's test-time flip")
    p.add_argument("--label-smoothing", type=float, default=0.0, help="of the hard-label student")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()

    dataset = load("cifar10")
    teacher, _ = checkpoints.load(args.teacher)
    # The teacher's logits on all 50,000 training images (stored beside the shipped teacher), sliced
    # like the images: a subset has other images, so its own key would miss the stored ones.
    start = time.perf_counter()
    all_logits = teacher_train_logits(teacher, dataset, "cpu") if args.mode == "cached" else None
    logits_seconds = round(time.perf_counter() - start, 1) if args.mode == "cached" else None
    keep = len(dataset.train_labels) - (args.validation or 0)
    if args.validation:
        dataset = replace(dataset, train_images=dataset.train_images[:keep], train_labels=dataset.train_labels[:keep],
                          test_images=dataset.train_images[keep:], test_labels=dataset.train_labels[keep:])
    if args.transfer:
        keep = min(keep, args.transfer)
        dataset = dataset.subset(torch.arange(keep))
    if args.optimizer == "sgd":  # lab.recipes.student_recipe("cifar10"): what `lab distill` runs
        recipe = student_recipe("cifar10")
        config = replace(recipe, epochs=args.epochs, batch_size=args.batch,
                         lr=args.lr or recipe.lr * args.batch / recipe.batch_size, augment=args.mode == "live",
                         device="cpu", report_every=1000)
    else:  # lab.recipes.STUDENT_CONFIG's optimizer and schedule
        config = TrainConfig(epochs=args.epochs, batch_size=args.batch, lr=args.lr or 5e-3,
                             augment=args.mode == "live", device="cpu", report_every=1000)
    if args.mode == "cached":
        teacher_logits = all_logits[:keep]
    else:
        teacher = copy.deepcopy(teacher).eval()
        teacher.flip_tta = args.teacher_tta == "on"
    base = {"student": args.student, "mode": args.mode, "epochs": args.epochs, "batch": args.batch,
            "lr": config.lr, "optimizer": config.optimizer, "transfer": len(dataset.train_labels),
            "scored_on": f"last {args.validation} training images" if args.validation else "test set",
            "teacher": str(args.teacher),
            "teacher_logits_seconds": logits_seconds, "teacher_tta": args.teacher_tta}
    with open(args.out, "a") as out:
        def write(row):
            print(json.dumps(row), flush=True)
            out.write(json.dumps(row) + "\n")
            out.flush()
        for seed in (int(s) for s in args.seeds.split(",")):
            seeded = replace(config, seed=seed)
            initial = init_model(args.student, dataset, seed)
            if not args.no_hard:
                hard = run(copy.deepcopy(initial), dataset, HardLabels(args.label_smoothing), seeded)
                write({**base, "seed": seed, "run": "hard", "label_smoothing": args.label_smoothing, **hard})
            for t in floats(args.T):
                for a in floats(args.alpha):
                    soft = (SoftTargets(t, a, teacher_logits=teacher_logits) if args.mode == "cached"
                            else SoftTargets(t, a, teacher=teacher))
                    result = run(copy.deepcopy(initial), dataset, soft, seeded)
                    write({**base, "seed": seed, "run": "distilled", "T": t, "alpha": a, **result})


if __name__ == "__main__":
    main()
