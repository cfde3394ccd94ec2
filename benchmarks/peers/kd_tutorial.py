"""A peer side by side: PyTorch's knowledge-distillation tutorial (CIFAR-10) as published, on this
CPU and on the lab's data, next to the lab's default CIFAR-10 run. One table: each model's test
accuracy on the official 10,000 test images, its parameters, and the wall and CPU time it took.

The tutorial (pytorch/tutorials, beginner_source/knowledge_distillation_tutorial.py, A. Chariton):
DeepNN (4 conv + 2 linear, ~1.19 M parameters) trained on labels is the teacher; LightNN (2 conv +
2 linear, ~0.27 M) the student, trained once on labels and once (from the same initial weights,
torch.manual_seed(42)) with 0.25 × soft-target loss (T = 2, scaled by T²) + 0.75 × cross-entropy;
every run 10 epochs of Adam (lr 0.001), batches of 128, shuffled, no augmentation, images
normalised with ImageNet's mean/std. Its published figures (on a GPU): teacher 75.1 %, student
69.9 %, distilled 70.8 %.

What differs from the published script, and why it does not change the recipe:
- The images are the lab's (lab.data.load("cifar10"): uint8 tensors, equal to torchvision's CIFAR10
  image for image, tests/test_cifar_real.py), divided by 255 and normalised per batch as ToTensor +
  Normalize do; batches are slices of a seeded permutation, the last one partial, as a shuffling
  DataLoader gives.
- The teacher's logits on the training images are computed once instead of at every step: with
  the teacher in eval mode (dropout off) and no augmentation they are the same numbers every epoch.
  `--live-teacher` asks the teacher at every step, as the script does (slower; same loss).

    LAB_DATA_DIR=../shared/data flock /tmp/heavy.lock nice -n 5 python benchmarks/peers/kd_tutorial.py \\
        --lab-teacher assets/teacher-cifar10 --markdown /work/notes/peers.md
    python benchmarks/peers/kd_tutorial.py --epochs 1 --train-limit 2000      # a smoke run in a minute
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from lab.data import load  # noqa: E402

PUBLISHED = {"teacher": 75.1, "student": 69.9, "distilled": 70.8}  # the tutorial's own run, on a GPU
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)          # the tutorial's Normalize
EPOCHS, LR, BATCH, SEED = 10, 1e-3, 128, 42
T, SOFT_WEIGHT, CE_WEIGHT = 2.0, 0.25, 0.75


class DeepNN(nn.Module):
    """The tutorial's teacher."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 128, 3, padding=1), nn.ReLU(), nn.Conv2d(128, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2))
        self.classifier = nn.Sequential(nn.Linear(2048, 512), nn.ReLU(), nn.Dropout(0.1), nn.Linear(512, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class LightNN(nn.Module):
    """The tutorial's student."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2))
        self.classifier = nn.Sequential(nn.Linear(1024, 256), nn.ReLU(), nn.Dropout(0.1), nn.Linear(256, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def soft_target_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """The tutorial's soft-target term: cross-entropy of the student's softened distribution against the
    teacher's, summed over classes, averaged over the batch, times T² (Hinton et al. 2015). It differs
    from KL(teacher ‖ student) by the teacher's entropy, a constant: the gradients are the same."""
    targets = F.softmax(teacher_logits / temperature, dim=-1)
    log_probs = F.log_softmax(student_logits / temperature, dim=-1)
    return -(targets * log_probs).sum() / log_probs.shape[0] * temperature ** 2


def normalized(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, 32, 32) uint8 -> float, as ToTensor() then Normalize(MEAN, STD)."""
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (images.float() / 255 - mean) / std


def batches(n: int, generator: torch.Generator):
    """Index slices of one shuffled pass, the last one partial (DataLoader(shuffle=True) order)."""
    order = torch.randperm(n, generator=generator)
    for start in range(0, n, BATCH):
        yield order[start:start + BATCH]


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def train(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epochs: int, teacher: nn.Module | None = None,
          teacher_logits: torch.Tensor | None = None, log=print) -> None:
    """Adam at the tutorial's lr; cross-entropy, or with a teacher 0.25 × soft targets + 0.75 × CE."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    generator = torch.Generator().manual_seed(SEED)
    model.train()
    for epoch in range(epochs):
        start, total, steps = time.perf_counter(), 0.0, 0
        for index in batches(len(labels), generator):
            x, y = normalized(images[index]), labels[index]
            optimizer.zero_grad()
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            if teacher is not None or teacher_logits is not None:
                if teacher_logits is not None:
                    target = teacher_logits[index]
                else:
                    with torch.no_grad():
                        target = teacher(x)
                loss = SOFT_WEIGHT * soft_target_loss(logits, target, T) + CE_WEIGHT * loss
            loss.backward()
            optimizer.step()
            total, steps = total + loss.item(), steps + 1
        log(f"  epoch {epoch + 1}/{epochs}: loss {total / steps:.3f}, {time.perf_counter() - start:.0f} s, "
            f"load {os.getloadavg()[0]:.2f}")


@torch.no_grad()
def logits_of(model: nn.Module, images: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    model.eval()
    return torch.cat([model(normalized(images[i:i + batch])) for i in range(0, len(images), batch)])


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    return 100 * (logits_of(model, images).argmax(-1) == labels).double().mean().item()


def params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def timed(what):
    """Run `what()`; (its value, wall seconds, CPU seconds of this process, all threads)."""
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    value = what()
    return value, time.perf_counter() - wall0, cpu_seconds() - cpu0


def tutorial(epochs: int, train_limit: int | None, live_teacher: bool, log=print) -> list[dict]:
    data = load("cifar10")
    images, labels = data.train_images, data.train_labels
    if train_limit:
        images, labels = images[:train_limit], labels[:train_limit]
    test_images, test_labels = data.test_images, data.test_labels
    rows = []

    torch.manual_seed(SEED)
    teacher = DeepNN()
    log(f"tutorial teacher DeepNN ({params(teacher):,} parameters), {epochs} epochs on {len(labels):,} images")
    _, wall, cpu = timed(lambda: train(teacher, images, labels, epochs, log=log))
    rows.append({"run": "tutorial", "model": "teacher DeepNN", "params": params(teacher),
                 "test_accuracy": accuracy(teacher, test_images, test_labels), "wall_s": wall, "cpu_s": cpu,
                 "published": PUBLISHED["teacher"], "epochs": epochs})

    torch.manual_seed(SEED)
    student = LightNN()
    initial = {k: v.clone() for k, v in student.state_dict().items()}
    log(f"tutorial student LightNN on labels ({params(student):,} parameters)")
    _, wall, cpu = timed(lambda: train(student, images, labels, epochs, log=log))
    rows.append({"run": "tutorial", "model": "student LightNN, labels", "params": params(student),
                 "test_accuracy": accuracy(student, test_images, test_labels), "wall_s": wall, "cpu_s": cpu,
                 "published": PUBLISHED["student"], "epochs": epochs})

    torch.manual_seed(SEED)
    distilled = LightNN()
    assert all(torch.equal(initial[k], v) for k, v in distilled.state_dict().items())  # the tutorial's own check
    log(f"tutorial student LightNN distilled (T = {T:g}, {SOFT_WEIGHT} soft + {CE_WEIGHT} CE, "
        f"teacher {'asked every step' if live_teacher else 'logits computed once'})")

    def distill():
        cached = None if live_teacher else logits_of(teacher, images)
        teacher.eval()
        train(distilled, images, labels, epochs, teacher=teacher if live_teacher else None, teacher_logits=cached,
              log=log)

    _, wall, cpu = timed(distill)
    rows.append({"run": "tutorial", "model": "student LightNN, distilled", "params": params(distilled),
                 "test_accuracy": accuracy(distilled, test_images, test_labels), "wall_s": wall, "cpu_s": cpu,
                 "published": PUBLISHED["distilled"], "epochs": epochs})
    return rows


def lab_default_run(teacher_dir: Path, seed: int, log=print) -> list[dict]:
    """`python -m lab distill --teacher DIR --seed S` (the dataset's measured defaults), timed from outside."""
    card = json.loads((teacher_dir / "model.json").read_text())
    cost = card.get("cost") or {}  # what training it cost, as its card records it (benchmarks/train_cifar_teacher.py)
    rows = [{"run": "lab", "model": f"teacher {card['arch']} (shipped; its card's cost)",
             "params": card["metrics"].get("params"), "test_accuracy": 100 * card["metrics"]["test_accuracy"],
             "wall_s": cost.get("wall_seconds", card["metrics"].get("seconds")), "cpu_s": cost.get("cpu_seconds"),
             "published": None, "epochs": (card.get("config") or {}).get("epochs")}]
    with tempfile.TemporaryDirectory(prefix="kd-peer-") as out:
        log(f"lab default CIFAR-10 run: python -m lab distill --teacher {teacher_dir} --seed {seed}")
        wall0, cpu0 = time.perf_counter(), cpu_seconds(resource.RUSAGE_CHILDREN)
        proc = subprocess.run([sys.executable, "-m", "lab", "distill", "--teacher", str(teacher_dir), "--seed",
                               str(seed), "--out", out], cwd=ROOT, capture_output=True, text=True)
        wall, cpu = time.perf_counter() - wall0, cpu_seconds(resource.RUSAGE_CHILDREN) - cpu0
        if proc.returncode != 0:
            raise SystemExit(f"the lab's distill run failed:\n{proc.stderr[-2000:]}")
        summary = json.loads((Path(out) / "summary.json").read_text())
    for name in ("hard", "distilled"):
        s = summary[name]
        rows.append({"run": "lab", "model": f"student {summary['student']}, {'labels' if name == 'hard' else 'distilled'}",
                     "params": s.get("params"), "test_accuracy": 100 * s["test_accuracy"],
                     "wall_s": s.get("seconds"), "cpu_s": None, "published": None, "epochs": None})
    rows.append({"run": "lab", "model": f"the whole `lab distill` command (both students, T = {summary['temperature']:g}, "
                                       f"α = {summary['alpha']:g})", "params": None, "test_accuracy": None,
                 "wall_s": wall, "cpu_s": cpu, "published": None, "epochs": None})
    return rows


def machine() -> dict:
    flags = set(Path("/proc/cpuinfo").read_text().split()) if Path("/proc/cpuinfo").exists() else set()
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "cpu_flags": sorted(flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"}), "nice": os.nice(0)}


def markdown(result: dict) -> str:
    def num(v, fmt):
        return "—" if v is None else format(v, fmt)
    lines = ["| run | model | parameters | epochs | test accuracy (%) | published (GPU) | wall (s) | CPU (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['run']} | {r['model']} | {num(r['params'], ',')} | {num(r['epochs'], 'd')} | "
                     f"{num(r['test_accuracy'], '.2f')} | {num(r['published'], '.1f')} | {num(r['wall_s'], '.0f')} | "
                     f"{num(r['cpu_s'], '.0f')} |")
    m = result["machine"]
    lines.append("")
    lines.append(f"Load average (1, 5, 15 min) at start {result['load_start']}, at end {result['load_end']}; "
                 f"CPU flags {' '.join(m['cpu_flags']) or 'none'}; {m['cores']} cores, {m['torch_threads']} torch "
                 f"threads, torch {m['torch']}, nice {m['nice']}. Command: `{result['command']}`.")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=EPOCHS, help=f"epochs of each tutorial run (published: {EPOCHS})")
    p.add_argument("--train-limit", type=int, help="only the first N training images (a smoke run)")
    p.add_argument("--live-teacher", action="store_true", help="ask the teacher at every step, as the script does")
    p.add_argument("--lab-teacher", type=Path, default=ROOT / "assets" / "teacher-cifar10",
                   help="the lab's shipped CIFAR-10 teacher (its default run is left out if it is absent)")
    p.add_argument("--lab-seed", type=int, default=0)
    p.add_argument("--skip-lab", action="store_true")
    p.add_argument("--skip-tutorial", action="store_true", help="only the lab's run (its row of an earlier table)")
    p.add_argument("--json", type=Path, help="write the result as JSON here")
    p.add_argument("--markdown", type=Path, help="write the table as Markdown here")
    args = p.parse_args(argv)

    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    result = {"command": " ".join(["python", *sys.argv]), "machine": machine(),
              "load_start": [round(x, 2) for x in os.getloadavg()], "rows": []}
    if not args.skip_tutorial:
        result["rows"] += tutorial(args.epochs, args.train_limit, args.live_teacher, log)
    if args.skip_lab:
        log("the lab's run: skipped (--skip-lab)")
    elif (args.lab_teacher / "model.json").is_file():
        result["rows"] += lab_default_run(args.lab_teacher, args.lab_seed, log)
    else:
        log(f"the lab's run: skipped, no shipped CIFAR-10 teacher at {args.lab_teacher}")
    result["load_end"] = [round(x, 2) for x in os.getloadavg()]
    table = markdown(result)
    print(json.dumps(result))
    print(table)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.markdown:
        args.markdown.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
