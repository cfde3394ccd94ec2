"""Teacher vs hard-label student vs distilled student: the table and the verdict the Compare
page shows, computed from the metrics dicts that `recipes.summarize()` returns."""
from __future__ import annotations

COLUMNS = ("test_accuracy", "params", "bytes", "macs", "latency_ms", "agreement", "ece")


def comparison_row(name: str, role: str, metrics: dict) -> dict:
    """One table row: the model's name and role plus the numbers that matter (None where unknown)."""
    row = {"model": name, "role": role}
    row.update({k: metrics.get(k) for k in COLUMNS})
    if row["latency_ms"] is None:
        row["latency_ms"] = metrics.get("latency_ms_b1")
    return row


def verdict(teacher: dict, hard: dict, distilled: dict) -> str:
    """One or two sentences computed from the numbers, e.g. "The distilled student is 27× smaller
    than the teacher, keeps 97% of its accuracy and is 1.4 points better than the same student
    trained on labels alone." """
    t_acc, h_acc, d_acc = teacher["test_accuracy"], hard["test_accuracy"], distilled["test_accuracy"]
    ratio = teacher["params"] / max(distilled["params"], 1)
    size = f"{ratio:.0f}× smaller than" if ratio >= 1.5 else ("about the size of" if ratio > 0.67 else
                                                             f"{1 / ratio:.0f}× larger than")
    keeps = d_acc / t_acc if t_acc else 0.0
    gap = 100 * (d_acc - h_acc)
    if gap >= 0.05:
        versus = f"is {gap:.1f} points better than the same student trained on labels alone"
    elif gap <= -0.05:
        versus = (f"is {-gap:.1f} points worse than the same student trained on labels alone "
                  "(distillation did not help this time: try more epochs, another T, or a stronger teacher)")
    else:
        versus = "ties with the same student trained on labels alone"
    text = f"The distilled student is {size} the teacher, keeps {keeps:.0%} of its accuracy and {versus}."
    if "latency_ms" in teacher and "latency_ms" in distilled and distilled.get("latency_ms"):
        speedup = teacher["latency_ms"] / distilled["latency_ms"]
        if speedup >= 1.5:
            text += f" On this CPU it answers {speedup:.0f}× faster per image."
    return text
