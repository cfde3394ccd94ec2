"""The search behind EXPERIMENTS.md's omitted-class table (issue 9): one omitted-class pair per call
through the lab's own engine, trained one after the other, with the held-out bias rules side by
side. Prints one JSON line. Not part of the lab; `python -m lab omit` is the experiment itself.

    LAB_THREADS=1 nice python benchmarks/omit_search.py --hidden 800,800 --T 8 --augment --seed 1

"held_acc" maximizes accuracy on the held-out training images; "oracle_test" is chosen on the test
images and is printed only to know the ceiling (never a valid choice)."""
import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lab import checkpoints  # noqa: E402
from lab.data import load  # noqa: E402
from lab.device import cap_threads  # noqa: E402
from lab.experiments import common, omit  # noqa: E402
from lab.losses import HardLabels, SoftTargets  # noqa: E402
from lab.metrics import accuracy, per_class_accuracy, predict_logits  # noqa: E402
from lab.models import MLP, MODELS  # noqa: E402
from lab.recipes import teacher_train_logits  # noqa: E402
from lab.train import run_to_end, train  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--hidden", default="48", help="hidden widths, e.g. 800,800")
p.add_argument("--T", type=float, default=8)
p.add_argument("--alpha", type=float, default=1.0)
p.add_argument("--epochs", type=int, default=30)
p.add_argument("--lr", type=float, default=5e-3)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--augment", action="store_true", help="shift the transfer images each epoch; live teacher")
p.add_argument("--teacher", default="assets/teacher-mnist-sample")
a = p.parse_args()
cap_threads()
widths = [int(w) for w in a.hidden.split(",")]
arch = f"search-mlp-{a.hidden}"
MODELS[arch] = ("search", "", lambda s, k: MLP(s[0] * s[1] * s[2], widths, k))
teacher, card = checkpoints.load(a.teacher)
ds, k, start = load(card["dataset"]), 3, time.time()
transfer_index, held_index = omit.split_transfer_set(ds, k, 0.1, a.seed)
transfer_set = ds.subset(transfer_index)
config = common.student_config(a.epochs, a.seed, "cpu", lr=a.lr, augment=a.augment)
if a.augment:  # one after the other, the teacher asked on every shifted batch
    initial = common.fresh_student(arch, ds, a.seed)
    hard, distilled = (run_to_end(train(copy.deepcopy(initial), transfer_set, objective, config,
                                        eval_each_epoch=False)).model
                       for objective in (HardLabels(), SoftTargets(a.T, a.alpha, teacher=teacher.eval())))
else:  # as one stacked pair on cached logits, as `omit --no-augment` trains it
    pair = common.train_grid(common.Runs("omit", 1), "search", arch, transfer_set, a.seed,
                             [(a.T, 0.0), (a.T, a.alpha)], teacher_train_logits(teacher, ds, "cpu")[transfer_index],
                             config)
    while True:
        try:
            next(pair)
        except StopIteration as done:
            hard, distilled = done.value
            break
labels, logits = ds.test_labels, common.test_logits(distilled, ds)
held_logits = predict_logits(distilled, ds.train_images[held_index], ds.mean, ds.std)
grid = torch.arange(-2, 20.01, 0.05)


def best_on(z, y):  # middle of the plateau of the best accuracy
    scores = torch.tensor([accuracy(z + b * torch.nn.functional.one_hot(torch.tensor(k), 10), y) for b in grid])
    return float(grid[scores == scores.max()].float().mean())


biases = {"prior": omit.bias_for_prior(held_logits, k, (ds.train_labels == k).double().mean().item()),
          "held_acc": best_on(held_logits, ds.train_labels[held_index]), "oracle_test": best_on(logits, labels)}
out = {"hidden": widths, "T": a.T, "alpha": a.alpha, "epochs": a.epochs, "lr": a.lr, "seed": a.seed,
       "augment": a.augment, "seconds": round(time.time() - start, 1),
       "hard3": per_class_accuracy(common.test_logits(hard, ds), labels, 10)[k],
       "before3": per_class_accuracy(logits, labels, 10)[k], "acc_before": accuracy(logits, labels)}
for name, b in biases.items():
    z = logits.clone()
    z[:, k] += b
    out.update({f"bias_{name}": round(b, 3), f"after3_{name}": per_class_accuracy(z, labels, 10)[k],
                f"acc_{name}": accuracy(z, labels)})
print(json.dumps(out))
