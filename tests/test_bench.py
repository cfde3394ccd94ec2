"""The benchmark suite runs and reports every field (no timing is asserted: CI machines vary)."""
import json
import math
import subprocess
import sys
from pathlib import Path

from benchmarks import suite as bench

NUMBERS = ["throughput_ratio", "throughput_ratio_lab_batch", "reference_images_per_s", "lab_images_per_s", "teacher_accuracy",
           "teacher_seconds_total", "distill_overhead", "sweep_seconds", "peak_rss_mb_mnist_sample",
           "live_speedup_teacher_vs_student", "live_latency_ms_teacher", "live_images_per_s_student_b256",
           "slider_ms", "startup_seconds"]  # this checkout has the app: a crash is a failure, not a null


def test_bench_smoke_run_reports_every_field_as_numbers():
    result = json.loads(json.dumps(bench.run(quick=True, device="cpu", smoke=True)))  # JSON-safe
    for key in NUMBERS:
        assert isinstance(result[key], (int, float)) and math.isfinite(result[key]) and result[key] > 0, key
    # null only for its stated reason: the teacher's one smoke epoch ended below the target, or
    # the full Fashion-MNIST files are not on this machine
    assert (result["teacher_seconds_to_98"] is None) == (result["teacher_accuracy"] < bench.TEACHER_TARGET)
    assert result["peak_rss_mb_fashion_mnist"] is None or result["peak_rss_mb_fashion_mnist"] > 0
    assert (result["peak_rss_mb_fashion_mnist"] is None) == ("peak_rss_note" in result)
    assert result["device"] == "cpu" and result["torch"]
    assert set(result["targets"]) == set(bench.TARGETS)
    assert "throughput_ratio" in bench.table(result)


def test_reference_net_is_pytorch_examples_mnist():
    assert bench.count_params(bench.ReferenceNet()) == 1_199_882


def test_suite_runs_as_a_script_from_another_folder(tmp_path):
    """`python benchmarks/suite.py` needs no install and no particular working directory."""
    script = Path(bench.__file__).resolve()
    proc = subprocess.run([sys.executable, str(script), "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-1000:]
    assert "--quick" in proc.stdout and "--json" in proc.stdout


def test_peak_rss_of_a_child_run_is_its_own():
    mb = bench.peak_rss_mb("mnist-sample", bench.pick_device("cpu"), max_steps=1)
    assert 50 < mb < 4000
