"""What the sequence lessons could promise, checked on a `compare` result (seq.json): each claim is
measured on every seed and holds only if it holds on each of them (the rule of `lessons --check`);
differences against the labels-only student also carry their paired interval over test words.

    for c in check(result): print(c["claim"], c["per_seed"], c["holds"])
"""
from __future__ import annotations

import statistics


def _method(result: dict, name: str) -> dict:
    return next(m for m in result["methods"] if m["name"] == name)


def _claim(text: str, per_seed: list[float], holds_each, unit: str, note: str = "") -> dict:
    return {"claim": text, "per_seed": per_seed, "mean": statistics.fmean(per_seed), "unit": unit,
            "holds_per_seed": [bool(holds_each(v)) for v in per_seed],
            "holds": all(holds_each(v) for v in per_seed), "note": note}


def _gap(m: dict) -> list[float]:
    """Greedy minus beam WER per seed, in points (how much a student still gains from searching)."""
    return [100 * (g - b) for g, b in zip(m["wer"], m["beam_wers"])]


def check(result: dict) -> list[dict]:
    labels, seq = _method(result, "labels"), _method(result, "seq-kd")
    claims = []
    share = [s / l if l > 0 else float("inf") for s, l in zip(_gap(seq), _gap(labels))]
    claims.append(_claim("sequence-level KD closes most of the greedy-beam gap (its gap is under half the "
                         "labels student's)", share, lambda v: v < 0.5, "share of the labels gap"))
    for name in ("word-kd", "seq-kd", "on-policy"):
        m = _method(result, name)
        gains = [100 * (l - w) for l, w in zip(labels["wer"], m["wer"])]
        beyond = [d["low"] > 0 for d in m["vs_labels"]]
        claims.append(_claim(f"{name} lowers the greedy WER of the same student (vs labels only, beyond noise "
                             "on the paired test words)", gains, lambda v: v > 0, "points",
                             f"beyond noise on {sum(beyond)} of {len(beyond)} seeds"))
        claims[-1]["holds"] = claims[-1]["holds"] and all(beyond)
    best = [min(result["methods"], key=lambda m: m["wer"][i])["name"] for i in range(len(labels["wer"]))]
    claims.append({"claim": "the best method on every seed", "per_seed": best,
                   "holds": len(set(best)) == 1, "unit": "method", "mean": None, "note": ""})
    speed = [m["words_per_s"] / result["teacher"]["words_per_s"] for m in result["methods"]]
    claims.append(_claim("every student decodes at least 3x as many words per second as the teacher (greedy)",
                         speed, lambda v: v >= 3, "x the teacher", "per method, not per seed"))
    topk = {t["k"]: t for t in result["topk"]}
    if 1 in topk and "full" in topk:
        full = [100 * (l - w) for l, w in zip(labels["wer"], topk["full"]["wer"])]
        for k in [k for k in topk if k != "full"]:
            kept = [100 * (l - w) for l, w in zip(labels["wer"], topk[k]["wer"])]
            claims.append(_claim(f"a top-{k} teacher keeps at least half of the full teacher's gain",
                                 [k_ / f if f > 0 else float("nan") for k_, f in zip(kept, full)],
                                 lambda v: v >= 0.5, "share of the full gain"))
    return claims
