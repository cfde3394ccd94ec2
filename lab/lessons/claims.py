"""What a lesson or a dataset's default run promises, as data (checked by `python -m lab lessons --check`)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Claim:
    """What a lesson promises, as data. `python -m lab lessons --check` (lab.lessons.check) trains the
    lesson on several seeds, measures `measure` (lab.lessons.check.MEASURES) on each, and the claim
    holds when every seed's value is above `bound` (below it when `above` is False). A `pooled`
    claim is about the mean over the seeds: its measure is computed once from all of their runs."""
    text: str
    measure: str
    bound: float
    above: bool = True
    unit: str = "points"
    pooled: bool = False   # about the mean over the seeds: `measure` is computed once from every seed's run
