"""Teacher vs hard-label student vs distilled student: the table and the verdict the Compare
page shows, computed from the metrics dicts that `recipes.summarize()` returns, the paired
difference of the two students (lab.stats) and a live speed measurement (lab.speed)."""
from __future__ import annotations

from .speed import SpeedMeasurement
from .stats import PairedDifference

COLUMNS = ("test_accuracy", "params", "bytes", "macs", "agreement", "ece")


def comparison_row(name: str, role: str, metrics: dict, speed: SpeedMeasurement | None = None,
                   speed_name: str | None = None) -> dict:
    """One table row: the model's name and role plus the numbers that matter (None where unknown).
    Latency and throughput come only from a live measurement: a card's stored latency was taken at
    another moment under another load, and is never put next to a fresh number."""
    row = {"model": name, "role": role}
    row.update({k: metrics.get(k) for k in COLUMNS})
    measured = speed is not None and (speed_name or role) in speed.latency_ms
    row["latency_ms"] = speed.latency_ms[speed_name or role] if measured else None
    row["images_per_s"] = speed.throughput[speed_name or role] if measured else None
    # History only (the History page's table of recorded runs): what its card said when it was made.
    row["recorded_latency_ms"] = metrics.get("latency_ms", metrics.get("latency_ms_b1"))
    return row


def stored_pair_difference(distilled_metrics: dict) -> PairedDifference | None:
    """The distilled − labels difference from the paired 2×2 table a pair job keeps with the
    distilled student's metrics (`paired`: n, both, hard_only, distilled_only, neither), or None."""
    from .stats import paired_from_counts
    counts = (distilled_metrics or {}).get("paired")
    try:
        return paired_from_counts(counts["n"], counts["both"], counts["hard_only"], counts["distilled_only"])
    except (KeyError, TypeError, ValueError):
        return None


def _times(ratio: float) -> str:
    return f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.1f}×"


def speed_sentence(speed: SpeedMeasurement, slow: str = "teacher", fast: str = "distilled") -> str:
    """The verdict's speed claim, from one interleaved live measurement of both models."""
    ratio = speed.speedup(slow, fast)
    how = "measured just now on this machine, one image at a time, both models taking turns"
    if speed.threads == 1 and {slow, fast} <= set(speed.cpu_latency_ms) and speed.cpu_latency_ms[fast] > 0:
        cpu = speed.cpu_speedup(slow, fast)
        if max(cpu, ratio) / min(cpu, ratio) > 1.5:  # a crowded machine inflates the longer call more
            how += (f"; in CPU time, which other jobs on the machine cannot inflate, {_times(cpu)}"
                    if cpu >= 1 else f"; in CPU time {_times(1 / cpu)} slower")
    if ratio >= 1.5:
        return f"It answers {_times(ratio)} faster per image than the teacher ({how})."
    if ratio <= 1 / 1.5:
        return f"It answers {_times(1 / ratio)} slower per image than the teacher ({how})."
    return f"It answers about as fast as the teacher ({how})."


def versus_labels(paired: PairedDifference | None, hard: dict, distilled: dict) -> str:
    """How the distilled student compares with the label-trained one; no winner within noise."""
    if paired is None:  # no per-image predictions: the gap's noise is unknown, name no winner
        gap = 100 * (distilled["test_accuracy"] - hard["test_accuracy"])
        return (f"differs by {gap:+.1f} points from the same student trained on labels alone "
                "(one run, without per-image predictions its noise is unknown)")
    ci = f"{paired.confidence * 100:.0f} % CI {100 * paired.low:+.1f} to {100 * paired.high:+.1f}"
    if paired.within_noise:
        return (f"is within noise of the same student trained on labels alone ({paired.words()} on "
                f"{paired.n:,} test images): this run cannot tell which is better")
    gap = 100 * paired.difference
    if gap > 0:
        return f"is {gap:.1f} points better than the same student trained on labels alone ({ci}, beyond noise)"
    return (f"is {-gap:.1f} points worse than the same student trained on labels alone ({ci}, beyond noise; "
            "distillation did not help this time: try more epochs, another T, or a stronger teacher)")


def verdict(teacher: dict, hard: dict, distilled: dict, paired: PairedDifference | None = None,
            speed: SpeedMeasurement | None = None) -> str:
    """A few sentences computed from the numbers, e.g. "The distilled student is 27× smaller than
    the teacher, keeps 97% of its accuracy and is 1.4 points better than the same student trained
    on labels alone (95 % CI +0.6 to +2.2, beyond noise). It answers 15× faster per image …".

    `paired`: distilled minus hard on the same test images (lab.stats.paired_difference).
    `speed`: a live measurement holding "teacher" and "distilled" (lab.speed.measure_speed); the
    speed claim is made from it only, never from the cards' stored latencies."""
    t_acc, d_acc = teacher["test_accuracy"], distilled["test_accuracy"]
    ratio = teacher["params"] / max(distilled["params"], 1)
    size = f"{ratio:.0f}× smaller than" if ratio >= 1.5 else ("about the size of" if ratio > 0.67 else
                                                             f"{1 / ratio:.0f}× larger than")
    keeps = d_acc / t_acc if t_acc else 0.0
    text = (f"The distilled student is {size} the teacher, keeps {keeps:.0%} of its accuracy and "
            f"{versus_labels(paired, hard, distilled)}.")
    if speed is not None and {"teacher", "distilled"} <= set(speed.latency_ms):
        text += " " + speed_sentence(speed)
    return text


def paired_json(paired: PairedDifference) -> dict:
    """The distilled − hard difference for summary.json (A = hard, B = distilled)."""
    return {"n": paired.n, "difference": paired.difference, "low": paired.low, "high": paired.high,
            "confidence": paired.confidence, "within_noise": paired.within_noise, "mcnemar_p": paired.p_value,
            "only_hard_right": paired.only_a, "only_distilled_right": paired.only_b, "words": paired.words()}


def speed_json(speed: SpeedMeasurement) -> dict:
    """A live interleaved measurement for summary.json, with the teacher / distilled speed-up."""
    out = speed.as_dict()  # latency_ms (batch 1, ms/image), throughput (batch 256, images/s), repeats, threads
    if {"teacher", "distilled"} <= set(speed.latency_ms):
        out["distilled_speedup"] = speed.speedup("teacher", "distilled")
    return out


def pair_evidence(teacher, hard_model, distilled_model, dataset, teacher_metrics: dict, hard_metrics: dict,
                  distilled_metrics: dict, speed_repeats: int = 5) -> dict:
    """What `distill`'s summary.json adds to the three models' numbers: the paired difference of the
    two students on the test images (with its interval), a live interleaved speed measurement of
    the three models, and the verdict made from both."""
    from .metrics import predict_logits
    from .speed import measure_speed
    from .stats import paired_from_logits

    def logits(model):
        model = model.cpu()
        return predict_logits(model, dataset.test_images.cpu(), dataset.mean, dataset.std)

    paired = paired_from_logits(logits(hard_model), logits(distilled_model), dataset.test_labels)
    speed = measure_speed({"teacher": teacher, "hard": hard_model, "distilled": distilled_model}, dataset.shape,
                          repeats=speed_repeats)
    return {"distilled_vs_hard": paired_json(paired), "speed": speed_json(speed),
            "verdict": verdict(teacher_metrics, hard_metrics, distilled_metrics, paired=paired, speed=speed)}
