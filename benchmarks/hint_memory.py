"""Peak RSS of a FitNets hint run on full Fashion-MNIST (issue 9 item 7c): student-cnn-small, the hint
objective, `epochs` epochs, an untrained teacher-cnn (memory does not depend on what it learned).

    /usr/bin/time -v env LAB_THREADS=1 python benchmarks/hint_memory.py 1     # peak RSS: "Maximum resident"
"""
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lab.data import load  # noqa: E402
from lab.device import cap_threads  # noqa: E402
from lab.objectives import make_objective  # noqa: E402
from lab.recipes import init_model  # noqa: E402
from lab.train import TrainConfig, run_to_end, train  # noqa: E402


def vm(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024  # MiB


epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 1
cap_threads(1)
data = load("fashion-mnist")
print(f"loaded {len(data.train_labels)} / {len(data.test_labels)}: VmHWM {vm('VmHWM'):.0f} MiB", flush=True)
teacher = init_model("teacher-cnn", data, 0).eval()
student = init_model("student-cnn-small", data, 0)
start = time.time()
objective = make_objective("hint", student, teacher, data, torch.zeros(len(data.train_labels), 10))
print(f"objective built in {time.time() - start:.0f} s: VmRSS {vm('VmRSS'):.0f} MiB, VmHWM {vm('VmHWM'):.0f} MiB",
      flush=True)
result = run_to_end(train(student, data, objective, TrainConfig(epochs=epochs, lr=5e-3, augment=False, device="cpu"),
                          eval_each_epoch=False))
print(f"trained {epochs} epoch(s) in {time.time() - start:.0f} s, test accuracy {result.metrics['test_accuracy']:.3f}: "
      f"VmHWM {vm('VmHWM'):.0f} MiB", flush=True)
