"""Guided lessons: a whole setup in one click, a few sentences, and a question to answer
*before* pressing Run (predicting first is what makes the result stick).

    LESSONS["dark-knowledge"].settings          # dataset, teacher, student, T, alpha, epochs, seed, page...
    to_query_params(LESSONS["dark-knowledge"])   # {"lesson": "dark-knowledge", "T": "4.0", ...} -> a URL
    from_query_params(st.query_params)           # -> checked settings (ConfigError if a value is bad)
    from_query_params(query, notices=[])         # -> every bad value falls back, one sentence each

Settings are plain values so that a page can put them straight into its widgets.
`page` names the page a lesson opens on: "soft-targets", "distill", "compare", "experiments"...
(the app maps them to its files). `hidden_class` (Lesson 3) is a class left out of the students'
training set: the omitted-class experiment (lab.experiments.omit, `python -m lab omit --class K`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from ..data import DATASETS
from ..errors import ConfigError
from ..limits import MAX_EPOCHS
from ..models import DEFAULT_TEACHER, MODELS, TEACHERS
from .claims import Claim  # noqa: F401  (lessons' claims; imported from here by the lesson check)
from .dataset_defaults import run_settings

# A fresh page: mnist-sample's default Distill run (lab.lessons.dataset_defaults, the one source of
# each dataset's defaults), the seed 0, the Distill page. A lesson changes only what it names.
DEFAULTS = {"dataset": "mnist-sample", "teacher": DEFAULT_TEACHER, **run_settings("mnist-sample"), "seed": 0,
            "page": "distill", "hidden_class": None}
PAGES = ("soft-targets", "distill", "compare", "history", "draw", "experiments")

# Short names in URLs; settings keys in code.
URL_NAMES = {"dataset": "dataset", "teacher": "teacher", "student": "student", "temperature": "T", "alpha": "alpha",
             "epochs": "epochs", "teacher_epochs": "teacher_epochs", "seed": "seed", "page": "page",
             "hidden_class": "hide"}


@dataclass(frozen=True)
class Lesson:
    key: str
    title: str
    text: str
    question: str
    choices: tuple[str, ...]
    after: str                      # what to look at once the run is done
    settings: dict = field(default_factory=dict)
    claims: tuple[Claim, ...] = ()  # what the run shows, checked by `python -m lab lessons --check`


def _lesson(key, title, text, question, choices, after, claims=(), **changes) -> Lesson:
    return Lesson(key, title, " ".join(text.split()), question, tuple(choices), " ".join(after.split()),
                  {**DEFAULTS, **changes}, tuple(claims))


LESSONS: dict[str, Lesson] = {lesson.key: lesson for lesson in [
    _lesson("dark-knowledge", "Lesson 1: dark knowledge",
            """A trained teacher does not only say "this is a 7". Its softmax also says how much the image
            looks like a 1 or a 9. At temperature T = 1 those small probabilities are almost zero; dividing
            the logits by a larger T lifts them into view. These relative similarities are what Hinton
            called dark knowledge, and they are what a student learns from in distillation.""",
            "For a clear 7, at T = 4, how likely does the teacher say the second-best class is?",
            ["about 0.001", "about 0.05", "about 0.3"],
            """Move T from 1 to 10 and watch the wrong classes rise. Which digits does the teacher think a 7
            resembles? Then compare the hard-label and the distilled student.""",
            claims=[Claim("The distilled student beats the hard-label one by more than one test image (0.1 point)",
                          "gain", 0.1)],
            page="soft-targets", temperature=4.0, epochs=30),
    _lesson("small-student", "Lesson 2: a student 10× smaller",
            """The MLP student has about 38 thousand parameters, roughly 10 times fewer than the teacher's
            391 thousand, and answers many times faster. Both students start from the same random weights and
            see the same images; one learns from the labels only, the other half from the teacher's soft
            targets (alpha = 0.5) at T = 8.""",
            "Will the distilled student close part of the gap to the teacher? How many accuracy points do you expect it to gain over the hard-label one?",
            ["none", "less than 1 point", "1 to 3 points", "more than 3 points"],
            """Compare test accuracy, size on disk and latency of the three models. Is the small student
            worth it? Try another seed: is the gain larger than the seed-to-seed spread?""",
            claims=[Claim("The distilled student beats the hard-label one by more than one test image (0.1 point)",
                          "gain", 0.1)],
            page="distill", student="student-mlp", temperature=8.0, alpha=0.5, epochs=30),
    _lesson("unseen-class", "Lesson 3: the class it never saw",
            """Here the students never see a single 3 while they train. The hard-label student has no reason
            ever to answer "3". The distilled student never sees a 3 either, but the teacher's soft targets on
            other digits (an 8 that looks a little like a 3...) still carry information about the class.
            Hinton, Vinyals and Dean ran this experiment on MNIST in 2015; the students here are their net, an
            MLP with two layers of 800 units, trained on slightly shifted images as theirs was.""",
            "On the test images of 3s, what accuracy will the distilled student reach?",
            ["0%, like the hard-label student", "under 50%", "over 50%"],
            """Look at the per-class accuracy and the confusion matrix: where do the 3s go for each student?
            Then raise the bias of class 3 (or press Automatic correction): how many 3s does the distilled
            student get right now? Raise T and run again: does it recognise more 3s?""",
            # lab.experiments.omit.outcomes measures these; EXPERIMENTS.md, "The omitted class, pushed"
            claims=[Claim("After the automatic bias correction (chosen on held-out training images) the distilled "
                          "student gets more than 85 % of the never-seen 3s right (Hinton et al.: 98.6 % on all of "
                          "MNIST)", "omitted_class_after_bias", 85.0, unit="%"),
                    # like for like: both students before any correction, and both after the same one
                    Claim("Before any correction the labels-only student gets almost none of the 3s right "
                          "(under 1 %)", "omitted_class_labels_only", 1.0, above=False, unit="%"),
                    Claim("Before any correction the distilled student already gets more than half of the 3s right",
                          "omitted_class_before_bias", 50.0, unit="%"),
                    Claim("Given the same automatic correction (its own bias, chosen the same way on the same "
                          "held-out images) the labels-only student still gets fewer than half of the 3s right",
                          "omitted_class_labels_only_after_bias", 50.0, above=False, unit="%")],
            page="experiments", hidden_class=3, student="student-mlp-2x800", epochs=30, temperature=8.0,
            alpha=1.0),
    _lesson("no-help", "Lesson 4: when distillation does not help",
            """Distillation copies the teacher, mistakes included. This teacher is trained for a single epoch,
            so it is clearly weaker than usual, and the distilled student learns mostly from its soft targets
            (alpha = 0.9).""",
            "Will the distilled student still beat the one trained on labels?",
            ["yes, by more than before", "about the same", "no, it does worse"],
            """Compare the teacher's accuracy with the students'. Then lower alpha (more weight on the labels)
            or train the teacher longer: when does distillation start to pay off again?""",
            claims=[Claim("The 1-epoch teacher is clearly weaker than the usual one (98.8 %): under 96 %",
                          "teacher_accuracy", 96.0, above=False, unit="%"),
                    Claim("With the 1-epoch teacher the distilled student does worse than the hard-label one, by "
                          "more than one test image (0.1 point)", "gain", -0.1, above=False)],
            page="distill", teacher_epochs=1, student="student-mlp", epochs=30),
    _lesson("cifar-kinds", "Lesson 5: cats, dogs and trucks (CIFAR-10)",
            """On CIFAR-10's colour photos the teacher learned from ten labels and nothing else: nobody told it
            that a cat and a dog are both animals, or that a truck is a kind of car. Its soft targets say so all
            the same. The Dark knowledge page shows which classes it finds alike, and how often its second
            choice for a photo is of the same kind as its first: an animal after an animal, a vehicle after a
            vehicle. Six of the ten classes are animals, so a runner-up picked at random would be of the same
            kind about half the time.""",
            "On what share of the test photos is the teacher's second choice of the same kind (animal or vehicle) "
            "as its first?",
            ["about half, as by chance", "about two thirds", "about nine in ten"],
            """Which pair does the teacher find most alike? Raise T and watch the map: do cat ↔ dog, automobile ↔
            truck and deer ↔ horse stand out? Then train a student pair on the Distill page: these similarities
            are what the distilled student learns and the labels-only one never sees.""",
            # lab.lessons.check.teacher_outcomes measures these on the shipped teacher (EXPERIMENTS.md)
            claims=[Claim("The teacher's second choice is of the same kind as its first (animal or vehicle) on more "
                          "than 60 % of the test photos (the shipped teacher: 66.6 %)", "second_choice_same_kind", 60.0,
                          unit="%"),
                    Claim("That is far more often than chance: the lower end of its 95 % interval lies more than 15 "
                          "points above what a random runner-up would reach (about 47 %)",
                          "second_choice_above_chance", 15.0),
                    Claim("Cat ↔ dog is the pair the teacher finds most alike", "cat_dog_rank", 2.0, above=False,
                          unit="rank")],
            **{**run_settings("cifar10"), "page": "soft-targets", "teacher": "teacher-airbench"}),
]}


def check_settings(settings: Mapping) -> dict:
    """A complete, checked copy of `settings` (missing keys from DEFAULTS). ConfigError if a value is bad."""
    s = {**DEFAULTS, **{k: v for k, v in settings.items() if k in DEFAULTS}}
    if s["dataset"] not in DATASETS:
        raise ConfigError(f"Unknown dataset {s['dataset']!r}. Choose one of: {', '.join(DATASETS)}.")
    if s["teacher"] not in TEACHERS:
        raise ConfigError(f"Unknown teacher {s['teacher']!r}. Choose one of: {', '.join(TEACHERS)}.")
    if s["student"] not in MODELS:
        raise ConfigError(f"Unknown student {s['student']!r}. Choose one of: {', '.join(MODELS)}.")
    if s["page"] not in PAGES:
        raise ConfigError(f"Unknown page {s['page']!r}. Choose one of: {', '.join(PAGES)}.")
    t, a = s["temperature"], s["alpha"]
    if not (isinstance(t, (int, float)) and math.isfinite(t) and 0 < t <= 100):
        raise ConfigError(f"The temperature T must be a number above 0 and at most 100 (got {t}). Try T = 4.")
    if not (isinstance(a, (int, float)) and 0 <= a <= 1):
        raise ConfigError(f"The blend alpha must lie between 0 and 1 (got {a}). Try alpha = 0.9.")
    for key in ("epochs", "teacher_epochs"):
        if not (isinstance(s[key], int) and 1 <= s[key] <= MAX_EPOCHS):
            raise ConfigError(f"{key.replace('_', ' ').capitalize()} must be a whole number from 1 to {MAX_EPOCHS} "
                              f"(got {s[key]}).")
    if not (isinstance(s["seed"], int) and 0 <= s["seed"] < 2**31):
        raise ConfigError(f"The seed must be a whole number from 0 to {2**31 - 1} (got {s['seed']}).")
    if s["hidden_class"] is not None and not (isinstance(s["hidden_class"], int) and 0 <= s["hidden_class"] < 10):
        raise ConfigError(f"The hidden class must be a class number from 0 to 9 (got {s['hidden_class']}).")
    return s


# ---------------------------------------------------------------- the one URL parser (app and tests)
# The app's links also carry what its Distill page adds to a lesson: the distillation target and
# instructor mode. They are not lesson settings (check_settings knows nothing of them).
METHODS = ("kd", "hint", "attention", "pseudo-labels")
URL_EXTRAS = {"method": "kd", "instructor": False}
ALIASES = {"data": "dataset"}  # older links named the dataset `data`
# What a link may set is what the app's widgets can show: its T slider runs from 0.5 to 20 and its
# seed box to 10,000 (a link outside that would draw a broken slider).
URL_LIMITS = {"temperature": (0.5, 20.0), "seed": (0, 10_000)}
_TRUE, _FALSE = ("1", "true", "on", "yes"), ("0", "false", "off", "no", "")


def to_query_params(preset: Lesson | Mapping, lesson: str | None = None,
                    keys: tuple[str, ...] | None = None) -> dict[str, str]:
    """Settings (or a lesson) as URL query parameters, plus `lesson=` for a lesson.

    By default only what differs from the defaults (short, readable links). `keys`: exactly
    these settings, whatever their value (the app writes its whole setup, so a link opens the
    same experiment even if a default changes later). URL_EXTRAS (method, instructor) are
    written when they differ from their defaults."""
    settings = preset.settings if isinstance(preset, Lesson) else check_settings(preset)
    lesson = preset.key if isinstance(preset, Lesson) else lesson
    params = {"lesson": lesson} if lesson else {}
    for key, value in settings.items():
        if (key in keys) if keys is not None else value != DEFAULTS[key]:
            params[URL_NAMES[key]] = "none" if value is None else _text(value)
    if not isinstance(preset, Lesson):
        if preset.get("method", "kd") != "kd":
            params["method"] = str(preset["method"])
        if preset.get("instructor"):
            params["instructor"] = "1"
    return params


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


_TYPES = {"temperature": float, "alpha": float, "epochs": int, "teacher_epochs": int, "seed": int,
          "hidden_class": int}


def _parse(key: str, name: str, raw: str, base: dict):
    """One URL value, typed and checked against `base` (the rest of the settings). ConfigError if bad."""
    if key == "method":
        if raw not in METHODS:
            raise ConfigError(f"Unknown method {raw!r}. Choose one of: {', '.join(METHODS)}.")
        return raw
    if key == "instructor":
        if raw.lower() not in _TRUE + _FALSE:
            raise ConfigError(f"instructor={raw!r} is neither 1 nor 0.")
        return raw.lower() in _TRUE
    if key == "hidden_class" and raw.lower() == "none":
        return None
    if key in _TYPES:
        try:
            value = _TYPES[key](raw)
        except ValueError:
            raise ConfigError(f"The link's {name}={raw!r} is not a number. Fix or remove it from the URL.") from None
    else:
        value = raw
    check_settings({**base, key: value})  # the lab's own ranges (NaN, inf and 1e309 fail here)
    low, high = URL_LIMITS.get(key, (None, None))
    if low is not None and not low <= value <= high:
        raise ConfigError(f"The link's {name}={raw} is outside {_text(low)}..{_text(high)}.")
    return value


def from_query_params(params: Mapping, notices: list[str] | None = None) -> dict:
    """Checked settings from URL query parameters (a dict of strings, e.g. `st.query_params`).
    `lesson=KEY` starts from that lesson, else a link naming a dataset from that dataset's default run
    (lab.lessons.dataset_defaults); other parameters override it; unknown ones are ignored.
    `method` and `instructor` (URL_EXTRAS) are in the result only when the link gives them.

    Without `notices`, the first bad value raises ConfigError. With a list, every bad value (NaN,
    inf, out of range, not a number, an unknown name) falls back to its default, and one sentence
    per value is appended to `notices` (the app: a shared link never fails as a whole)."""
    def value(name):
        v = params.get(name)
        return v[-1] if isinstance(v, (list, tuple)) else v  # some frameworks give lists

    def bad(error: ConfigError, fallback: str) -> None:
        if notices is None:
            raise error
        notices.append(f"{error} {fallback}")

    lesson = value("lesson")
    if lesson is not None and lesson not in LESSONS:
        bad(ConfigError(f"This link names an unknown lesson {lesson!r}. Lessons: {', '.join(LESSONS)}."),
            "No lesson is loaded.")
        lesson = None
    settings = dict(LESSONS[lesson].settings if lesson else DEFAULTS)
    named = next((value(n) for n in ("data", "dataset") if value(n) is not None), None)  # the alias wins, as below
    if lesson is None and named in DATASETS:  # that dataset's default run; the link's own values still win
        settings.update(run_settings(named))
    base = dict(settings)
    names = {**{name: key for key, name in URL_NAMES.items()}, **{a: ALIASES[a] for a in ALIASES},
             **{k: k for k in URL_EXTRAS}}
    for name, key in names.items():
        raw = value(name)
        if raw is None:
            continue
        try:
            settings[key] = _parse(key, name, str(raw), base)
        except ConfigError as e:
            default = URL_EXTRAS[key] if key in URL_EXTRAS else base[key]
            if notices is None:
                raise
            notices.append(f"{name}={raw}: {e} Using {URL_NAMES.get(key, key)} = {_text(default)}.")
    return settings


def lesson_of(settings: Mapping) -> Lesson | None:
    """The lesson whose settings these are, if any (to show its text and question)."""
    for lesson in LESSONS.values():
        if all(settings.get(k) == v for k, v in lesson.settings.items()):
            return lesson
    return None
