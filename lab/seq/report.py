"""A comparison's result (lab.seq.compare, the JSON of `python -m lab seq compare`) as the rows the
app's Sequences page shows: only the result's own numbers, rescaled to percent, and its own paired
intervals and verdicts (lab.stats via lab.seq.metrics.paired) — no statistics is computed here.

    method_rows(result)    one row per method: greedy / beam WER, PER, words/s, teacher tokens, vs labels
    topk_rows(result)      one row per k (1, 5, full)
    example_rows(result)   the words where the methods disagree, with the teacher's top candidates
"""
from __future__ import annotations

import statistics

NAMES = {"labels": "labels only", "word-kd": "word-level KD", "seq-kd": "sequence-level KD",
         "on-policy": "on-policy (GKD)"}


def percent(fraction: float | None) -> float | None:
    return None if fraction is None else 100 * fraction


def versus_labels(row: dict) -> tuple[str, str]:
    """(the paired difference with its interval, the verdict) per seed, as the result words them;
    ("—", "—") for the labels run itself or a run without a labels baseline."""
    pairs = row.get("vs_labels")
    if not pairs:
        return "—", "—"
    several = len(pairs) > 1
    words = [(f"seed {i}: " if several else "") + p["words"] for i, p in enumerate(pairs)]
    verdicts = [(f"seed {i}: " if several else "") + ("within noise" if p["within_noise"] else "beyond noise")
                for i, p in enumerate(pairs)]
    return "; ".join(words), "; ".join(verdicts)


def method_rows(result: dict) -> list[dict]:
    rows = []
    for m in result["methods"]:
        difference, verdict = versus_labels(m)
        rows.append({"method": NAMES.get(m["name"], m["name"]), "greedy WER %": percent(m["greedy_wer"]),
                     "beam WER %": percent(m["beam_wer"]), "PER % (greedy)": percent(statistics.fmean(m["per"])),
                     "words/s": m["words_per_s"], "teacher tokens": m["teacher_tokens"],
                     "accuracy vs labels (paired, 95 % CI)": difference, "verdict": verdict})
    return rows


def topk_rows(result: dict) -> list[dict]:
    rows = []
    for t in result.get("topk", []):
        difference, verdict = versus_labels(t)
        rows.append({"teacher returns": "every token (word-level KD)" if t["k"] == "full" else f"top {t['k']} tokens",
                     "greedy WER %": percent(t["greedy_wer"]), "beam WER %": percent(t["beam_wer"]),
                     "teacher tokens": t["teacher_tokens"], "accuracy vs labels (paired, 95 % CI)": difference,
                     "verdict": verdict})
    return rows


def example_rows(result: dict) -> list[dict]:
    """Per word: its references, each method's greedy output (first seed) and the teacher's most
    probable outputs with their probabilities."""
    rows = []
    for e in result.get("examples") or []:
        row = {"word": e["word"], "reference(s)": " | ".join(e["references"])}
        row.update({NAMES.get(name, name): output for name, output in e["outputs"].items()})
        row["teacher's top outputs"] = " | ".join(f"{c['output']} ({c['probability']:.0%})" for c in e["teacher"])
        rows.append(row)
    return rows
