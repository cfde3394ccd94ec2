"""The benchmark suite — how long a class waits. Run from anywhere:

    python benchmarks/suite.py [--quick] [--json] [--device auto|cpu|cuda] [--threads N]

It measures the library and the app of this checkout, so it lives beside them (benchmarks/),
not in lab/: the library does not know the repository's layout.

Every figure is measured here, in one process (the peak-memory runs and the Streamlit
start-up in child processes), on one device:

    throughput_ratio       images/s of lab.train.train on pytorch/examples' mnist Net (in-memory
                           uint8 batches of 256) ÷ images/s of that example's own loop (torchvision-
                           style dataset, ToTensor/Normalize, DataLoader, batch 64, fp32, Adadelta);
                           same Net, same images, same device; the two alternate, median of repeats
    teacher_seconds_to_98  wall seconds until the default teacher reaches 98.5% on mnist-sample
                           test (null if its schedule ends below that: see teacher_accuracy)
    distill_overhead       s/epoch of the distilled student ÷ s/epoch of the hard-label student
    live_speedup_teacher_vs_student   batch-1 latency of the teacher ÷ the default student's, both
                           timed in one round-robin measurement (lab.speed; what the verdict says)
    sweep_seconds          T × α × seeds grid of default students (lab.stacking)
    slider_ms              server time of a dark-knowledge page rerun after a T-slider change (AppTest)
    startup_seconds        cold `streamlit run streamlit_app.py` until /_stcore/health answers
    peak_rss_mb_*          peak resident memory of a child process training the default teacher

Timings on a shared machine are noisy: compare figures of one run, not across runs.
"""
from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python benchmarks/suite.py` from anywhere: the lab of this checkout
from lab.data import load  # noqa: E402
from lab.device import cap_threads, pick_device, precision_name  # noqa: E402
from lab.losses import HardLabels, SoftTargets  # noqa: E402
from lab.recipes import STUDENT_CONFIG, TEACHER_CONFIG, init_model, teacher_train_logits, train_teacher  # noqa: E402
from lab.models import DEFAULT_STUDENT, count_params  # noqa: E402
from lab.train import TrainConfig, train  # noqa: E402
TARGETS = {"throughput_ratio": (">=", 4), "teacher_seconds_to_98": ("<=", 8), "distill_overhead": ("<=", 1.15),
           "sweep_seconds": ("<=", 60), "slider_ms": ("<=", 100), "startup_seconds": ("<=", 4),
           "peak_rss_mb_mnist_sample": ("<=", 1200)}
TEACHER_TARGET = 0.985


# ---------------------------------------------------------------- the reference: pytorch/examples mnist

class ReferenceNet(nn.Module):
    """pytorch/examples mnist/main.py's Net, verbatim (1.2M parameters)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)  # log-probabilities: cross_entropy on them = nll_loss


class _TorchvisionStyle(torch.utils.data.Dataset):
    """What torchvision.datasets.MNIST does per sample: a PIL image, then the transforms."""

    def __init__(self, images, labels):
        from torchvision import transforms
        self.images, self.labels = images[:, 0].numpy(), labels.tolist()
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image
        return self.transform(Image.fromarray(self.images[i], mode="L")), self.labels[i]


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reference_images_per_s(dataset, device, batches: int, warmup: int = 2, batch_size: int = 64) -> float:
    """main.py's train() loop (Adadelta lr 1.0, nll_loss); DataLoader workers as on CUDA in the issue.
    Returns (images/s, fraction of the time spent waiting for the DataLoader)."""
    loader_args = {"batch_size": batch_size, "shuffle": True}
    if device.type == "cuda":
        loader_args.update(num_workers=4, pin_memory=True)
    loader = torch.utils.data.DataLoader(_TorchvisionStyle(dataset.train_images, dataset.train_labels), **loader_args)
    torch.manual_seed(0)
    model = ReferenceNet().to(device)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    model.train()
    seen, start, waiting = 0, None, 0.0
    while True:
        batches_iter = iter(loader)
        for i in range(len(loader)):
            if i == warmup and start is None:
                _sync(device)
                start = time.perf_counter()
            fetch = time.perf_counter()
            data, target = next(batches_iter)
            if start is not None:
                waiting += time.perf_counter() - fetch  # the input pipeline's share (Amdahl bound)
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            loss = F.nll_loss(model(data), target)
            loss.backward()
            optimizer.step()
            if start is not None:
                seen += len(target)
                if seen >= batches * batch_size:
                    _sync(device)
                    seconds = time.perf_counter() - start
                    return seen / seconds, waiting / seconds


def lab_images_per_s(dataset, device, steps: int, batch_size: int, warmup: int = 2) -> float:
    """The same Net through the lab's engine: in-memory uint8 batches, normalized on the device."""
    torch.manual_seed(0)
    model = ReferenceNet()
    epochs = (warmup + steps) // max(len(dataset.train_labels) // batch_size, 1) + 1
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=1e-3, device=device.type, augment=False,
                         report_every=1)
    start = None
    for event in train(model, dataset, HardLabels(), config, eval_each_epoch=False):
        if event.kind != "step":
            continue
        if event.step == warmup:
            start = (event.seconds, event.step)
        elif start and event.step >= warmup + steps:
            return (event.step - start[1]) * batch_size / (event.seconds - start[0])  # step events are synced
    raise AssertionError("not enough steps")


def throughput(dataset, device, quick: bool, smoke: bool = False) -> dict:
    """`throughput_ratio` compares at the reference's own batch (64), as the issue asks: same
    model, data, batch and device. The lab's own batch (256 on CPU, 1024 on CUDA) is reported
    beside it, because choosing the batch is one of the levers the engine is allowed to use."""
    repeats = 1 if smoke else 2 if quick else 5
    ref_batch, lab_batch = 64, 1024 if device.type == "cuda" else 256
    ref_batches, lab_images = (2, 256) if smoke else (10, 2048) if quick else (40, 6144)
    if device.type == "cuda":
        ref_batches, lab_images = 60, 40960
    refs, same, own, shares = [], [], [], []
    for _ in range(repeats):  # alternate, so a change in the machine's load hits every side
        rate, share = reference_images_per_s(dataset, device, ref_batches, batch_size=ref_batch)
        refs.append(rate)
        shares.append(share)
        same.append(lab_images_per_s(dataset, device, max(lab_images // ref_batch, 1), ref_batch))
        own.append(lab_images_per_s(dataset, device, max(lab_images // lab_batch, 1), lab_batch))
    ref = statistics.median(refs)
    return {"throughput_ratio": statistics.median(same) / ref,
            "throughput_ratio_per_repeat": [b / a for a, b in zip(refs, same)],
            "throughput_ratio_lab_batch": statistics.median(own) / ref,
            "reference_images_per_s": ref, "lab_images_per_s": statistics.median(same),
            "lab_images_per_s_lab_batch": statistics.median(own),
            "reference_input_pipeline_share": statistics.median(shares),
            "reference_batch": ref_batch, "lab_batch": lab_batch, "throughput_repeats": repeats,
            "reference_net_params": count_params(ReferenceNet())}


# ---------------------------------------------------------------- the lab's own workloads

def teacher_time(dataset, device, smoke: bool = False) -> tuple[dict, torch.nn.Module]:
    config = replace(TEACHER_CONFIG, device=device.type, epochs=1 if smoke else TEACHER_CONFIG.epochs)
    start = time.perf_counter()
    reached, event = None, None
    for event in train_teacher(dataset, config=config):
        if event.kind == "epoch" and reached is None and event.test_accuracy >= TEACHER_TARGET:
            reached = time.perf_counter() - start
    total = time.perf_counter() - start
    return ({"teacher_seconds_to_98": reached, "teacher_accuracy": event.result.metrics["test_accuracy"],
             "teacher_seconds_total": total, "teacher_epochs": config.epochs,
             "teacher_params": count_params(event.result.model)}, event.result.model)


def distill_overhead(dataset, teacher, device, quick: bool, smoke: bool = False) -> dict:
    epochs = 1 if smoke else 3 if quick else min(STUDENT_CONFIG.epochs, 10)
    config = replace(STUDENT_CONFIG, device=device.type, epochs=epochs)
    logits = teacher_train_logits(teacher, dataset, device)
    initial = init_model(DEFAULT_STUDENT, dataset, 0)
    per_epoch = {"hard": [], "distilled": []}
    for _ in range(1 if quick else 3):
        for name, objective in (("hard", HardLabels()),
                                ("distilled", SoftTargets(4.0, 0.9, teacher_logits=logits))):
            model = init_model(DEFAULT_STUDENT, dataset, 0)
            model.load_state_dict(initial.state_dict())
            *_, last = train(model, dataset, objective, config)
            per_epoch[name].append(last.result.metrics["seconds"] / config.epochs)
    hard, distilled = statistics.median(per_epoch["hard"]), statistics.median(per_epoch["distilled"])
    return {"distill_overhead": distilled / hard, "hard_seconds_per_epoch": hard,
            "distilled_seconds_per_epoch": distilled}


def sweep_time(dataset, teacher, device, quick: bool, smoke: bool = False) -> dict:
    """The T x alpha sweep through the lab's one sweep engine (lab.experiments.sweep), teacher
    logits included in its cost."""
    from lab.experiments import finish, sweep
    temperatures, alphas = (1.0, 2.0, 4.0, 8.0, 16.0), (0.0, 0.1, 0.3, 0.5, 0.7, 0.9)
    seeds, epochs = ((0,) if quick else (0, 1)), STUDENT_CONFIG.epochs
    if smoke:
        temperatures, alphas, epochs = temperatures[:2], alphas[:3], 1
    config = sweep.SweepConfig(temperatures=temperatures, alphas=alphas, seeds=seeds, epochs=epochs,
                               device=device.type)
    start = time.perf_counter()
    result = finish(sweep.run(dataset, teacher, config)).result
    seconds = time.perf_counter() - start
    return {"sweep_seconds": seconds, "sweep_grid": f"{len(temperatures)} T x {len(alphas)} alpha x {len(seeds)} seeds, "
            f"{epochs} epochs each", "sweep_hard_mean_accuracy": result["hard_label_mean"]}


def live_speed(dataset, teacher, quick: bool, smoke: bool = False) -> dict:
    """The trained teacher and a default student timed in ONE interleaved measurement (lab.speed):
    the ratio the Compare page's verdict reports, on this machine, now. (A card's latency was
    taken at another moment under another load and is not comparable.)"""
    from lab.speed import measure_speed
    student = init_model(DEFAULT_STUDENT, dataset, 0)  # its speed does not depend on its weights
    speed = measure_speed({"teacher": teacher, DEFAULT_STUDENT: student}, dataset.shape,
                          repeats=2 if smoke else 5 if quick else 15)
    return {"live_speedup_teacher_vs_student": speed.speedup("teacher", DEFAULT_STUDENT),
            "live_latency_ms_teacher": speed.latency_ms["teacher"],
            "live_latency_ms_student": speed.latency_ms[DEFAULT_STUDENT],
            # CPU time of the same samples: what the models cost whatever the load (complete with 1 thread)
            "live_cpu_speedup_teacher_vs_student": speed.cpu_speedup("teacher", DEFAULT_STUDENT),
            "live_images_per_s_teacher_b256": speed.throughput["teacher"],
            "live_images_per_s_student_b256": speed.throughput[DEFAULT_STUDENT],
            "live_speed_note": f"{DEFAULT_STUDENT} vs the teacher, batch 1 and 256, fp32 CPU, round-robin, "
                               f"median of {speed.repeats}, {speed.threads} threads"}


# ---------------------------------------------------------------- the app (when this branch has it)

DARK_KNOWLEDGE_PAGE = "app_pages/dark_knowledge.py"
SLIDER_SCRIPT = ROOT / "benchmarks" / "app_slider.py"


def slider_ms(repeats: int = 5) -> dict:
    """Server time of one rerun of the dark-knowledge page after a T-slider change, measured with
    Streamlit's AppTest in a child process (lab/ itself never imports Streamlit)."""
    if not (SLIDER_SCRIPT.is_file() and (ROOT / DARK_KNOWLEDGE_PAGE).is_file()):
        return {"slider_ms": None, "slider_note": "no app in this checkout"}
    proc = subprocess.run([sys.executable, str(SLIDER_SCRIPT), str(repeats)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"slider_ms": None, "slider_note": f"the AppTest run failed: {proc.stderr.strip()[-300:]}"}
    return json.loads(lines[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def startup_seconds(timeout: float = 60) -> dict:
    app = ROOT / "streamlit_app.py"
    if not app.is_file():
        return {"startup_seconds": None, "startup_note": "no streamlit_app.py in this checkout"}
    port = _free_port()
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true",
                             "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < timeout and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        return {"startup_seconds": time.perf_counter() - start}
            except OSError:
                time.sleep(0.05)
        return {"startup_seconds": None, "startup_note": "the server did not become healthy"}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


# ---------------------------------------------------------------- peak memory, in a child process

def rss_child(dataset_name: str, device: str, max_steps: int) -> None:
    """Child process body: load the dataset, train the default teacher (at most max_steps), evaluate
    it, then print this process's own peak resident memory in MB."""
    from lab.metrics import evaluate
    dataset = load(dataset_name)
    last = [0]
    for event in train_teacher(dataset, config=replace(TEACHER_CONFIG, device=device),
                               stop=lambda: last[0] >= max_steps):
        last[0] = event.step
    evaluate(event.result.model, dataset.to(pick_device(device)))  # the whole test split, as the app does
    print(_own_peak_mb())


def _own_peak_mb() -> float:
    """Peak RSS of this program since it was exec'ed. Not getrusage's ru_maxrss: on Linux that keeps
    the high-water mark of the process before exec, i.e. of the forking parent (the bench itself)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def peak_rss_mb(dataset_name: str, device, max_steps: int) -> float:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--rss-child", dataset_name, device.type,
                           str(max_steps)], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"peak-memory run on {dataset_name} failed: {proc.stderr[-500:]}")
    return float(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the whole suite

def run(quick: bool = False, device: str = "auto", progress=None, smoke: bool = False) -> dict:
    """All figures as one dict. `smoke` (tests only) shrinks every workload to a few steps:
    the fields and the code paths are those of a real run, the numbers mean nothing."""
    say = progress or (lambda msg: None)
    device = pick_device(device)
    dataset = load("mnist-sample")
    out = {"device": device.type, "device_name": _device_name(device), "precision": precision_name(device),
           "torch": torch.__version__, "threads": torch.get_num_threads(), "quick": quick, "smoke": smoke,
           "cpu_load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    started = time.perf_counter()
    say("throughput: lab engine vs the pytorch/examples mnist loop")
    out.update(throughput(dataset, device, quick, smoke))
    say("teacher: seconds to 98.5% on mnist-sample")
    figures, teacher = teacher_time(dataset, device, smoke)
    out.update(figures)
    say("distillation overhead per epoch")
    out.update(distill_overhead(dataset, teacher, device, quick, smoke))
    say("live speed: teacher vs student, interleaved")
    out.update(live_speed(dataset, teacher, quick, smoke))
    say("sweep of default students")
    out.update(sweep_time(dataset, teacher, device, quick, smoke))
    say("dark-knowledge slider (AppTest)")
    out.update(slider_ms())
    say("cold Streamlit start-up")
    out.update(startup_seconds())
    say("peak memory while training a teacher")
    short = 2 if smoke else 10
    out["peak_rss_mb_mnist_sample"] = peak_rss_mb("mnist-sample", device, short if quick or smoke else 10 ** 9)
    try:
        out["peak_rss_mb_fashion_mnist"] = peak_rss_mb("fashion-mnist", device, short if quick or smoke else 100)
    except RuntimeError as e:
        out["peak_rss_mb_fashion_mnist"], out["peak_rss_note"] = None, str(e).splitlines()[-1][:200]
    out["peak_rss_steps"] = f"{short} steps + test-set evaluation" if quick or smoke else \
        "mnist-sample: the full default schedule; fashion-mnist: 100 steps + the 10,000-image evaluation"
    out["bench_seconds"] = time.perf_counter() - started
    out["targets"] = {k: _verdict(out.get(k), *rule) for k, rule in TARGETS.items()}
    return out


def _device_name(device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"CPU ({os.cpu_count()} cores)"


def _verdict(value, op, target) -> str:
    if value is None:
        return "not measured"
    return "met" if (value >= target if op == ">=" else value <= target) else "missed"


def table(result: dict) -> str:
    """A readable table of a run() result."""
    def fmt(v):
        if v is None:
            return "n/a"
        if isinstance(v, float):
            return f"{v:,.2f}" if abs(v) < 1000 else f"{v:,.0f}"
        return str(v)
    rows = [("figure", "value", "target", "")]
    for key, (op, target) in TARGETS.items():
        rows.append((key, fmt(result.get(key)), f"{op} {target}", result["targets"][key]))
    extra = ["throughput_ratio_lab_batch", "reference_images_per_s", "lab_images_per_s", "lab_images_per_s_lab_batch", "reference_input_pipeline_share", "teacher_accuracy", "teacher_seconds_total",
             "hard_seconds_per_epoch", "distilled_seconds_per_epoch", "live_speedup_teacher_vs_student",
             "live_cpu_speedup_teacher_vs_student",
             "live_latency_ms_teacher", "live_latency_ms_student", "live_images_per_s_teacher_b256",
             "live_images_per_s_student_b256", "live_speed_note", "sweep_grid", "peak_rss_mb_fashion_mnist",
             "slider_note", "startup_note", "device", "device_name", "precision", "threads", "torch",
             "cpu_load_avg_1min", "bench_seconds"]
    rows += [(k, fmt(result[k]), "", "") for k in extra if k in result]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv=None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="python benchmarks/suite.py", description=(
        "Benchmarks: engine vs the PyTorch example loop, teacher time, sweep, app."))
    parser.add_argument("--quick", action="store_true", help="a short run for CI (about 1-2 minutes on 2 cores)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--threads", type=int, help="CPU threads to use (default: chosen from the machine's load)")
    parser.add_argument("--rss-child", nargs=3, metavar=("DATASET", "DEVICE", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cap_threads(args.threads)
    if args.rss_child:  # the child process of peak_rss_mb
        name, device, steps = args.rss_child
        rss_child(name, device, int(steps))
        return 0
    result = run(quick=args.quick, device=args.device, progress=lambda m: print(f"bench: {m}", file=sys.stderr))
    print(json.dumps(result) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
