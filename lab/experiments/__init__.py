"""Experiments that show *why* distillation works (issue 5), each a generator of `Progress`
events ending with a JSON-able result, cached on disk by config:

    sweep          temperature × alpha grid, several seeds
    omit           the omitted class and its bias correction (Hinton et al. 2015 §3)
    transfer_size  data efficiency: hard vs distilled on growing training fractions
    methods        KD vs hint (FitNets) vs attention transfer vs pseudo-labels; calibration
    conventions    (T, alpha) between code conventions
    ensemble       many teachers -> one student
    frontier       the cost-quality frontier: a ladder of students, labels vs distilled, live speed
    blackbox       distilling a query-only teacher: top-k, answers, no labels, a query budget
"""
from .common import Progress, finish

__all__ = ["Progress", "finish"]
