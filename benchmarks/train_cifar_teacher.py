"""Train a CIFAR-10 teacher by one of its recipes (lab.recipes.TEACHER_RECIPES) and save it with
what it cost: the exact command, wall and CPU time, the machine, and the accuracy-vs-time curve
go into the card (model.json). The shipped teacher in assets/ was made by:

    LAB_DATA_DIR=../shared/data flock /tmp/heavy.lock nice -n 19 \\
        python benchmarks/train_cifar_teacher.py --recipe shipped --out assets/teacher-cifar10

Weights of 1,024+ values are stored as float16 (4 MB instead of 8); the card's accuracy is
measured on the stored weights, in fp32, by the same evaluation as `python -m lab evaluate`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lab import checkpoints  # noqa: E402
from lab.data import load  # noqa: E402
from lab.device import precision_name  # noqa: E402
from lab.metrics import accuracy, predict_logits  # noqa: E402
from lab.models import to_safetensors  # noqa: E402
from lab.recipes import TEACHER_RECIPE_NAMES, save_result, teacher_recipe, train_teacher  # noqa: E402


def cpu_seconds() -> float:
    """CPU time of this process, all threads, user + system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_flags() -> list[str]:
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return sorted(flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"})


@torch.no_grad()
def round_to_half(model: torch.nn.Module) -> None:
    """Round the tensors that are stored as float16 (models.to_safetensors(half=True)) in place, so
    the model measured is the model saved."""
    for value in model.state_dict().values():
        if value.dtype == torch.float32 and value.numel() >= 1024:
            value.copy_(value.half().float())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", choices=TEACHER_RECIPE_NAMES, default="shipped")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, help="default: the recipe's")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()

    command = " ".join(shlex.quote(a) for a in ["python", *sys.argv])
    dataset = load("cifar10")
    recipe = teacher_recipe("cifar10", args.recipe)
    config = replace(recipe.config, seed=args.seed, **({"epochs": args.epochs} if args.epochs else {}))
    machine = {"cpu": platform.processor() or platform.machine(), "cpu_flags": cpu_flags(),
               "cores": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__,
               "training_precision": precision_name("cpu"), "nice": os.nice(0), "load_at_start": os.getloadavg()}
    print(json.dumps({"recipe": args.recipe, "arch": recipe.arch, "config": config.as_dict(), **machine}), flush=True)

    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    curve = []
    for event in train_teacher(dataset, recipe.arch, config):
        if event.kind == "epoch":
            curve.append({"epoch": event.epoch, "seconds": round(event.seconds, 1),
                          "cpu_seconds": round(cpu_seconds() - cpu0, 1), "test_accuracy": event.test_accuracy,
                          "load_1min": round(os.getloadavg()[0], 2)})
            print(json.dumps(curve[-1]), flush=True)
    if event.kind != "finished":
        raise SystemExit(f"training ended early: {event.kind} {event.message}")
    cost = {"wall_seconds": round(time.perf_counter() - wall0, 1), "cpu_seconds": round(cpu_seconds() - cpu0, 1),
            "training_seconds": round(event.seconds, 1), **machine, "load_at_end": os.getloadavg()}

    model = event.result.model.cpu()
    round_to_half(model)
    card = save_result(args.out, event.result, dataset, config, role="teacher", recipe=args.recipe,
                       command=command, cost=cost, curve=curve,
                       weights_storage="float16 for tensors of 1,024+ values, float32 for the rest; "
                                       "the accuracy is the stored weights' (fp32 evaluation)")
    (args.out / checkpoints.WEIGHTS).write_bytes(to_safetensors(model, half=True))
    card["metrics"]["bytes"] = (args.out / checkpoints.WEIGHTS).stat().st_size  # the file as stored
    (args.out / checkpoints.CARD).write_text(json.dumps(card, indent=2))

    # The card's accuracy is what `python -m lab evaluate` will print for the files on disk.
    reloaded, _ = checkpoints.load(args.out)
    stored = accuracy(predict_logits(reloaded, dataset.test_images, card["mean"], card["std"]), dataset.test_labels)
    assert stored == card["metrics"]["test_accuracy"], (stored, card["metrics"]["test_accuracy"])
    print(json.dumps({"test_accuracy": stored, "bytes": (args.out / checkpoints.WEIGHTS).stat().st_size,
                      **{k: cost[k] for k in ("wall_seconds", "cpu_seconds", "training_seconds")}}), flush=True)


if __name__ == "__main__":
    main()
