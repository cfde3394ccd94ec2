"""Speed of the models in one comparison, measured live and fairly: all of them in one
measurement, interleaved, on the machine that shows the numbers.

    speed = measure_speed({"teacher": teacher, "distilled": student}, dataset.shape)
    speed.latency_ms["teacher"]          # ms per image at batch 1 (median of repeats)
    speed.throughput["teacher"]          # images/s at batch 256 (median of repeats)
    speed.speedup("teacher", "distilled")  # how many times faster the student answers

Why interleaved: the load on a shared machine changes from second to second. A latency stored on
a model card was measured at another moment, under another load (a teacher's card once said
7.6 ms/image, measured live next to its student it was 0.22 ms); timing model A now and model B
a minute later compares the machine with itself. Round-robin over the models — one sample of
each in turn, the starting model rotating every round — gives every model the same share of
every moment, and the median of the rounds drops the ones a neighbour's job disturbed.
"""
from __future__ import annotations

import copy
import statistics
import time
from dataclasses import dataclass, field

import torch
from torch import nn

LATENCY_BATCH, THROUGHPUT_BATCH = 1, 256


@dataclass
class SpeedMeasurement:
    names: list[str]
    latency_ms: dict[str, float]              # batch 1: median ms per image
    throughput: dict[str, float]              # batch 256: median images per second
    repeats: int                              # samples per model and batch size (the same for every model)
    calls_per_sample: dict[int, int]          # batch size -> forward calls timed together in one sample
    order: list[tuple[int, str]] = field(default_factory=list)  # (batch size, model) in measured order
    threads: int = 0
    # The same samples in CPU time of the measuring thread (time.thread_time): the work itself, which
    # other processes cannot inflate. Complete only with 1 intra-op thread (other threads' work is
    # not counted). On a crowded machine wall time inflates a long call (preempted more often) more
    # than a short one: e.g. teacher 3.5 ms wall vs 0.87 ms CPU next to a 0.04 ms student at load 16.
    cpu_latency_ms: dict[str, float] = field(default_factory=dict)

    def speedup(self, slow: str, fast: str) -> float:
        """How many times faster `fast` answers one image than `slow` (batch-1 latency ratio)."""
        return self.latency_ms[slow] / self.latency_ms[fast]

    def cpu_speedup(self, slow: str, fast: str) -> float:
        """The same ratio in CPU time (meaningful with threads == 1): what the models cost, whatever the load."""
        return self.cpu_latency_ms[slow] / self.cpu_latency_ms[fast]

    def rows(self) -> list[dict]:
        return [{"model": n, "latency_ms": self.latency_ms[n], "images_per_s": self.throughput[n]} for n in self.names]

    def as_dict(self) -> dict:
        return {"names": self.names, "latency_ms": self.latency_ms, "throughput": self.throughput,
                "cpu_latency_ms": self.cpu_latency_ms, "repeats": self.repeats, "threads": self.threads,
                "batches": {"latency": LATENCY_BATCH, "throughput": THROUGHPUT_BATCH}}


def _round_robin(names: list[str], rounds: int):
    """Round r visits every model once, starting at model r mod M (no model always goes first)."""
    for r in range(rounds):
        start = r % len(names)
        yield r, names[start:] + names[:start]


@torch.inference_mode()
def measure_speed(models: dict[str, nn.Module], shape: tuple[int, int, int], repeats: int = 9,
                  batches: tuple[int, int] = (LATENCY_BATCH, THROUGHPUT_BATCH),
                  calls_per_sample: dict[int, int] | None = None) -> SpeedMeasurement:
    """Latency (batch 1) and throughput (batch 256) of every model, CPU, fp32, eval mode.

    One sample = `calls_per_sample[batch]` forward calls timed together (a batch-1 call of a small
    MLP takes tens of microseconds: a single call is mostly timer and scheduler noise)."""
    if not models:
        raise ValueError("Give at least one model to measure.")
    calls = {LATENCY_BATCH: 10, **{b: 1 for b in batches if b != LATENCY_BATCH}, **(calls_per_sample or {})}
    names = list(models)
    cpu = {n: copy.deepcopy(m).cpu().float().eval() for n, m in models.items()}  # the originals stay untouched
    inputs = {b: torch.randn(b, *shape) for b in batches}
    for b in batches:  # warm-up: the first call allocates and picks kernels
        for n in names:
            cpu[n](inputs[b])
    samples = {(b, n): [] for b in batches for n in names}
    cpu_samples = {(b, n): [] for b in batches for n in names}
    order = []
    for _, turn in _round_robin(names, repeats):
        for b in batches:
            for n in turn:
                start, start_cpu = time.perf_counter(), time.thread_time()
                for _ in range(calls[b]):
                    cpu[n](inputs[b])
                samples[b, n].append((time.perf_counter() - start) / calls[b])
                cpu_samples[b, n].append((time.thread_time() - start_cpu) / calls[b])
                order.append((b, n))
    per_call = {key: statistics.median(times) for key, times in samples.items()}  # seconds per call
    latency_b, throughput_b = batches[0], batches[-1]
    return SpeedMeasurement(names, {n: 1000 * per_call[latency_b, n] / latency_b for n in names},
                            {n: throughput_b / per_call[throughput_b, n] for n in names},
                            repeats, {b: calls[b] for b in batches}, order, torch.get_num_threads(),
                            {n: 1000 * statistics.median(cpu_samples[latency_b, n]) / latency_b for n in names})
