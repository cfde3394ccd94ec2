"""The GPU proof for issue 4, as one prepared script (a few minutes on one GPU):

    python benchmarks/gpu_check.py > gpu.json

1. the CUDA path end to end: a teacher and a distilled pair trained on CUDA through the CLI's own
   functions, with bf16 autocast, results checked;
2. `python benchmarks/suite.py --device cuda` figures (throughput_ratio vs the DataLoader loop, 4 workers);
3. a full Fashion-MNIST teacher's wall time (Debian's files, or a torchvision download);
4. images/s of the default teacher on CIFAR-10-shaped input (3×32×32; random pixels where the
   data cannot be downloaded: the cost of a step does not depend on the pixel values).
Prints one JSON object. Needs CUDA; exits 2 with a sentence otherwise.
"""
import json
import subprocess
import sys
import time
from dataclasses import replace

import torch

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
import lab  # noqa: E402
from lab.data import Dataset  # noqa: E402
from lab.recipes import STUDENT_CONFIG, TEACHER_CONFIG, distill_pair, train_teacher  # noqa: E402
from lab.train import run_to_end  # noqa: E402


DRY = "--dry-run-cpu" in sys.argv  # check this script's logic on a CPU (tiny runs, no figures)
DEVICE = "cpu" if DRY else "cuda"


def main() -> dict:
    if not DRY and not torch.cuda.is_available():
        print("error: no CUDA device here; run this on a GPU machine.", file=sys.stderr)
        sys.exit(2)
    out = {"device_name": "cpu (dry run)" if DRY else torch.cuda.get_device_name(0), "torch": torch.__version__}
    epochs = {"epochs": 1} if DRY else {}
    sample = lab.load("mnist-sample")
    start = time.perf_counter()
    teacher = run_to_end(train_teacher(sample, config=replace(TEACHER_CONFIG, device=DEVICE, **epochs)))
    out["cuda_teacher_mnist_sample"] = {"accuracy": teacher.metrics["test_accuracy"],
                                        "seconds": time.perf_counter() - start}
    final = {name: event for name, event in distill_pair(sample, teacher.model,
                                                         config=replace(STUDENT_CONFIG, device=DEVICE, **epochs))}
    out["cuda_distill_pair"] = {name: e.result.metrics["test_accuracy"] for name, e in final.items()}
    suite = __import__("pathlib").Path(__file__).resolve().parent / "suite.py"
    bench = subprocess.run([sys.executable, str(suite), "--device", DEVICE, "--json"]
                           + (["--quick"] if DRY else []), capture_output=True, text=True)
    out["bench"] = json.loads(bench.stdout) if bench.returncode == 0 else {"error": bench.stderr[-800:]}
    try:
        fashion = lab.load("mnist-sample" if DRY else "fashion-mnist")
        start = time.perf_counter()
        result = run_to_end(train_teacher(fashion, config=replace(TEACHER_CONFIG, device=DEVICE, batch_size=512, **epochs)))
        out["fashion_mnist_teacher"] = {"accuracy": result.metrics["test_accuracy"],
                                        "seconds": time.perf_counter() - start}
    except lab.LabError as e:
        out["fashion_mnist_teacher"] = {"error": str(e)}
    n = 2_048 if DRY else 50_000  # CIFAR-10's training-set size and shape
    g = torch.Generator().manual_seed(0)
    shaped = Dataset("cifar10-shaped", torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g),
                     torch.randint(0, 10, (n,), generator=g), torch.zeros(1000, 3, 32, 32, dtype=torch.uint8),
                     torch.zeros(1000, dtype=torch.long), tuple(str(i) for i in range(10)),
                     (0.49, 0.48, 0.45), (0.25, 0.24, 0.26), origin="random pixels, CIFAR-10's shape",
                     source="benchmarks/gpu_check.py")
    rates = [e.images_per_s for e in train_teacher(shaped, config=replace(TEACHER_CONFIG, device=DEVICE, epochs=1,
                                                                          batch_size=1024))
             if e.kind == "step" and e.images_per_s]
    out["cifar10_shaped_teacher_images_per_s"] = sorted(rates)[len(rates) // 2] if rates else None
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=1, default=str))
