"""What the app's Sequences page may ask of the comparison, and its short default run, in one place:
the page's widgets read these bounds and `page_config` checks every value again (a crafted session
may send a value no widget could show), so the page and its tests share one set of sentences.

    config = page_config(["labels", "seq-kd"], steps=150, seeds=1)   # a CompareConfig, or ConfigError
"""
from __future__ import annotations

import math
from dataclasses import replace

from ..errors import ConfigError
from .compare import METHODS, CompareConfig

MAX_STEPS = CompareConfig.steps   # the CLI's default run; longer ones belong to `python -m lab seq compare`
MAX_SEEDS = 3                     # seeds 0 .. n-1, as the CLI counts them
TEMPERATURE_RANGE = (0.5, 20.0)
TOP_K_CHOICES = (1, 5)            # the API case: the teacher returns only its k most probable tokens

# The page's default: a short run that finishes in about two minutes on the app's one training thread:
# one seed, a shared labels-only warm start of 600 steps (from scratch, 150 steps leave every student at
# 100 % WER), then 200 steps per method, scored on the first 300 test words; no top-k students.
# Measured (1 thread, load 1.3-2.0, 2-core AMD EPYC): 117 s in all, of it the seq-kd corpus 36 s, labels
# 70.7 % WER, every method within noise of it. The CLI's defaults are the real comparison (lab/seq/compare.py).
QUICK = CompareConfig(seeds=1, warm_steps=600, steps=200, test_words=300, speed_words=300, top_k=())


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value, what: str, low: int, high: int) -> int:
    if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
        raise ConfigError(f"{what} must be a whole number from {low} to {high:,} (got {value}).")
    return value


def _between(value, what: str, low: float, high: float) -> float:
    if not (_number(value) and low <= value <= high):
        raise ConfigError(f"{what} must be a number from {low:g} to {high:g} (got {value}).")
    return float(value)


def _subset(values, choices, what: str) -> tuple:
    values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
    try:
        wrong = any(v not in choices for v in values) or len(set(values)) != len(values)
    except TypeError:  # an unhashable value (a list inside the list): not a choice either
        wrong = True
    if wrong:
        raise ConfigError(f"{what} must be some of {', '.join(map(str, choices))}, each once "
                          f"(got {', '.join(map(str, values))}).")
    return values


# Each page setting's check: a value no widget could show (a crafted or outdated session) fails here.
CHECKS = {"methods": lambda v: _subset(v, METHODS, "The methods"),
          "top_k": lambda v: _subset(v, TOP_K_CHOICES, "Top-k"),
          "steps": lambda v: _whole(v, "Steps", 1, MAX_STEPS),
          "seeds": lambda v: _whole(v, "Seeds", 1, MAX_SEEDS),
          "temperature": lambda v: _between(v, "The temperature T", *TEMPERATURE_RANGE),
          "alpha": lambda v: _between(v, "α", 0.0, 1.0),
          "student_share": lambda v: _between(v, "λ", 0.0, 1.0),
          "beta": lambda v: _between(v, "β", 0.0, 1.0)}


def problems(settings: dict) -> dict[str, str]:
    """{name: sentence} for each of `settings` (names of CHECKS) that no widget could show."""
    found = {}
    for name, value in settings.items():
        try:
            CHECKS[name](value)
        except ConfigError as e:
            found[name] = str(e)
    return found


def page_config(methods, steps: int = QUICK.steps, seeds: int = QUICK.seeds, temperature: float = QUICK.temperature,
                alpha: float = QUICK.alpha, student_share: float = QUICK.student_share, beta: float = QUICK.beta,
                top_k=QUICK.top_k, base: CompareConfig | None = None) -> CompareConfig:
    """The page's settings as a CompareConfig on top of `base` (default: QUICK, the short run), or
    ConfigError with one sentence that says what to change."""
    base = QUICK if base is None else base
    values = {"methods": methods, "top_k": top_k, "steps": steps, "seeds": seeds, "temperature": temperature,
              "alpha": alpha, "student_share": student_share, "beta": beta}
    checked = {name: CHECKS[name](value) for name, value in values.items()}
    if not checked["methods"]:
        raise ConfigError(f"Choose one or more of the methods: {', '.join(METHODS)}.")
    return replace(base, **{**checked, "methods": tuple(m for m in METHODS if m in checked["methods"]),
                            "top_k": tuple(sorted(checked["top_k"]))})
