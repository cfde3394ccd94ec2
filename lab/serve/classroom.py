"""The class at a glance (the instructor page): today's student pairs, from the run history.

    runs = store.list_runs(kinds=PAIR_KINDS, since=start_of_today(), curves=False)
    pairs = class_pairs(runs)            # one PairPoint per finished pair: T, α, gain over labels ± interval
    cells = class_grid(pairs)            # the class sweep: mean gain and count per (T, α) cell
    spread = gain_spread(pairs)          # n, mean, median, min/max, how many beyond noise
    waiting = queue_rows(shared_queue().snapshot(), names)   # who trains, who waits (display names only)

A pair is the two runs of one Distill job (kinds "hard" and "distilled", one group_id). Its gain is
the distilled student's test accuracy minus the hard-label student's, on the same test images; the
paired 2×2 counts of those images (`paired_counts`, stored in the distilled run's metrics under
"paired" when the job finishes) give its interval: lab.stats.paired_from_counts, the exact paired
interval (it excludes 0 exactly when McNemar's exact test rejects), as on the Distill page. Nothing
here names a student: a run carries the display name its student chose (config "display_name"), else the student is "anonymous N".
"""
from __future__ import annotations

import io

import datetime
import functools
import math
import statistics
from dataclasses import dataclass

import torch

from .. import stats
from ..experiments.sweep import SweepConfig

PAIR_KINDS = ("hard", "distilled")
# The class sweep uses the Experiments page's grid, so the class's heatmap reads like the sweep's.
GRID_T: tuple[float, ...] = SweepConfig.temperatures
GRID_ALPHA: tuple[float, ...] = SweepConfig.alphas
MAX_NAME = 30


def start_of_today(now: float | None = None) -> float:
    """Local midnight (the server's clock) as a UNIX time: 'today' for the class view."""
    moment = datetime.datetime.fromtimestamp(now if now is not None else datetime.datetime.now().timestamp())
    return moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def clean_display_name(text) -> str | None:
    """A name a student typed, made safe to show: printable, one line, at most MAX_NAME characters;
    None when nothing is left (the student stays anonymous)."""
    if not isinstance(text, str):
        return None
    name = " ".join("".join(ch for ch in text if ch.isprintable()).split())[:MAX_NAME].strip()
    return name or None


# ---------------------------------------------------------------- one pair's paired result

def paired_counts(labels: torch.Tensor, hard_logits: torch.Tensor, distilled_logits: torch.Tensor) -> dict:
    """The 2×2 table of the two students on the same test images: how many each got right alone.
    Enough to recompute the exact paired interval and McNemar's test later (the images' order does not matter)."""
    hard, distilled = stats.correct(hard_logits, labels), stats.correct(distilled_logits, labels)  # (N,) bool
    return {"n": int(hard.size), "both": int((hard & distilled).sum()),
            "hard_only": int((hard & ~distilled).sum()), "distilled_only": int((~hard & distilled).sum()),
            "neither": int((~hard & ~distilled).sum())}


_COUNT_KEYS = ("n", "both", "hard_only", "distilled_only", "neither")


def valid_counts(counts) -> bool:
    return (isinstance(counts, dict) and all(isinstance(counts.get(k), int) and counts[k] >= 0 for k in _COUNT_KEYS)
            and counts["n"] > 0 and sum(counts[k] for k in _COUNT_KEYS[1:]) == counts["n"])


@functools.lru_cache(maxsize=4096)  # a live page recomputes every pair's interval every few seconds
def _difference(n: int, both: int, hard_only: int, distilled_only: int) -> stats.PairedDifference:
    return stats.paired_from_counts(n, both, hard_only, distilled_only)


def pair_difference(counts: dict) -> stats.PairedDifference:
    """distilled − hard on the same images, with lab.stats.paired_from_counts' exact interval and McNemar's p,
    from the stored 2×2 counts (the same numbers the Distill page shows for that pair)."""
    return _difference(counts["n"], counts["both"], counts["hard_only"], counts["distilled_only"])


# ---------------------------------------------------------------- the class's pairs

@dataclass(frozen=True)
class PairPoint:
    group_id: str
    who: str                       # the chosen display name, or "anonymous N"
    student_key: str               # the browser's history key: counts students (two may pick one name); never shown
    dataset: str | None
    student: str | None            # the student architecture
    method: str                    # what the distilled student learned from ("kd", "hint", ...)
    temperature: float
    alpha: float
    epochs: int | None
    hard_accuracy: float
    distilled_accuracy: float
    low: float | None              # the gain's 95 % interval; None when the pair has no paired counts
    high: float | None
    finished_at: float

    @property
    def gain(self) -> float:
        return self.distilled_accuracy - self.hard_accuracy

    @property
    def beyond_noise(self) -> bool:
        """Its interval excludes 0 (lab.stats' rule: "within noise" when it contains 0)."""
        return self.low is not None and (self.low > 0 or self.high < 0)


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def display_names(runs) -> dict[str, str]:
    """Session key -> what to call that student: their latest chosen name, else "anonymous N",
    numbered in the order the students first appear (oldest first). Keys are never shown."""
    names: dict[str, str] = {}
    anonymous = 0
    for run in sorted(runs, key=lambda r: r.id):
        key = run.session or run.owner or ""
        chosen = clean_display_name(run.config.get("display_name"))
        if chosen:
            names[key] = chosen
        elif key not in names:
            anonymous += 1
            names[key] = f"anonymous {anonymous}"
    return names


def class_pairs(runs, names: dict[str, str] | None = None) -> list[PairPoint]:
    """Every pair whose two students both finished, oldest first. Runs of other kinds, unfinished
    runs and rows with missing numbers are left out (never an error: the history is shared)."""
    names = display_names(runs) if names is None else names
    groups: dict[str, dict] = {}
    for run in runs:
        if run.kind in PAIR_KINDS and run.status == "finished" and run.group_id:
            groups.setdefault(run.group_id, {})[run.kind] = run
    pairs = []
    for group_id, members in groups.items():
        hard, distilled = members.get("hard"), members.get("distilled")
        if hard is None or distilled is None:
            continue
        config = distilled.config
        values = [_number(x) for x in (hard.metrics.get("test_accuracy"), distilled.metrics.get("test_accuracy"),
                                       config.get("T"), config.get("alpha"))]
        if None in values:
            continue
        hard_acc, distilled_acc, temperature, alpha = values
        counts = distilled.metrics.get("paired")
        low, high = (pair_difference(counts).low, pair_difference(counts).high) if valid_counts(counts) \
            else (None, None)
        epochs = config.get("epochs")
        pairs.append(PairPoint(
            group_id=group_id, who=names.get(distilled.session or distilled.owner or "", "anonymous"),
            student_key=distilled.session or distilled.owner or "",
            dataset=distilled.dataset, student=distilled.arch, method=str(config.get("method") or "kd"),
            temperature=temperature, alpha=alpha, epochs=epochs if isinstance(epochs, int) else None,
            hard_accuracy=hard_acc, distilled_accuracy=distilled_acc, low=low, high=high,
            finished_at=max(hard.finished_at or 0.0, distilled.finished_at or 0.0)))
    return sorted(pairs, key=lambda p: p.finished_at)


# ---------------------------------------------------------------- the class sweep and the spread

def nearest(values: tuple[float, ...], x: float, log: bool = False) -> float:
    """The grid value closest to x (in log scale for temperatures: 3 is nearer 4 than 2)."""
    distance = (lambda v: abs(math.log(v) - math.log(x))) if log else (lambda v: abs(v - x))
    return min(values, key=distance)


def class_grid(pairs: list[PairPoint], temperatures: tuple[float, ...] = GRID_T,
               alphas: tuple[float, ...] = GRID_ALPHA) -> list[dict]:
    """One cell per (T, α) of the grid, row by row: each pair lands in its nearest cell;
    `mean_gain` is None while nobody has tried it. Only logit-KD pairs (T and α mean the same there)."""
    filled: dict[tuple[float, float], list[float]] = {}
    for p in pairs:
        if p.method != "kd" or p.temperature <= 0:
            continue
        cell = (nearest(temperatures, p.temperature, log=True), nearest(alphas, p.alpha))
        filled.setdefault(cell, []).append(p.gain)
    return [{"temperature": t, "alpha": a, "count": len(filled.get((t, a), [])),
             "mean_gain": statistics.fmean(filled[(t, a)]) if (t, a) in filled else None}
            for t in temperatures for a in alphas]


def gain_spread(pairs: list[PairPoint]) -> dict:
    """How the class's gains spread: count, mean, median, extremes, and how many pairs gained or
    lost beyond their own noise (interval excludes 0) vs were within noise or had no interval."""
    gains = [p.gain for p in pairs]
    if not gains:
        return {"n": 0}
    return {"n": len(gains), "mean": statistics.fmean(gains), "median": statistics.median(gains),
            "min": min(gains), "max": max(gains),
            "sd": statistics.stdev(gains) if len(gains) > 1 else 0.0,
            "better": sum(p.beyond_noise and p.gain > 0 for p in pairs),
            "worse": sum(p.beyond_noise and p.gain < 0 for p in pairs),
            "within_noise": sum(p.low is not None and not p.beyond_noise for p in pairs),
            "no_interval": sum(p.low is None for p in pairs)}


def empty_cells(cells: list[dict]) -> list[tuple[float, float]]:
    """The (T, α) cells nobody has tried yet: what to ask the next students to run."""
    return [(c["temperature"], c["alpha"]) for c in cells if c["count"] == 0]


# ---------------------------------------------------------------- the queue

def queue_rows(snapshot: dict, names: dict[str, str]) -> list[dict]:
    """lab.serve.jobs' snapshot as rows to show: running first, then waiting in order (position 1 = next).
    An owner the history has not seen yet (a first job still waiting) is "a new student"."""
    rows = [{"who": names.get(owner or "", "a new student"), "what": label, "state": "training", "position": 0}
            for _, label, owner in snapshot.get("running", [])]
    rows += [{"who": names.get(owner or "", "a new student"), "what": label, "state": "waiting",
              "position": place} for place, (_, label, owner) in enumerate(snapshot.get("waiting", []), start=1)]
    return rows


def qr_png(url: str, scale: int = 10) -> bytes:
    """The link as a QR code, PNG bytes: black on white, the 4-module quiet zone kept (phones need it),
    error correction M (a projector's glare or a smudge still scans)."""
    import segno  # a maintained pure-Python QR library (requirements.txt); writes PNG without Pillow
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()
