"""Does every lesson show what it promises? Train each lesson the way the app does, on several
seeds, and measure its claims (lab.lessons.presets.Claim) on the students' own test split.

    results = check(subjects(), seeds=range(5))     # one ClaimResult per claim
    all(r.passed for r in results)

A *subject* is a lesson (its settings, its teacher) or a dataset's default Distill run
(lab.lessons.dataset_defaults). Per seed it is trained once and its outcomes are measured (MEASURES);
each of its claims then reads one outcome. A claim holds when it holds on *every* seed.

A default run is the Distill page's first click exactly: its settings come from the function the
page's widgets start from (dataset_defaults.run_settings), and it trains as the page's job does
(lab.serve.tasks.pair: the two students taking turns, then measured, with the page's config).

Teachers are the ones a class would use: the shipped pretrained teacher where the lesson uses
the standard teacher, a teacher trained for the lesson's `teacher_epochs` with the run's seed
(what the Teacher page trains, Lesson 4), or for a dataset's defaults its teacher recipe,
trained once and cached on disk (lab.serve.teacher_cache).

Students of a lesson's pair train from the same initial weights, as one stack where they stack
(lab.experiments.common.train_grid: the MLP; CNNs with BatchNorm train one after the other).
"""
from __future__ import annotations

import functools
import math
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable

import torch

from .. import checkpoints
from ..dark_knowledge import KINDS, class_similarity, confusable_pairs, second_choice_kind
from ..data import Dataset, load, locate
from ..errors import LabError
from ..experiments import omit
from ..experiments.common import Runs, finish, test_logits, train_grid
from .dataset_defaults import defaults_for
from .presets import DEFAULTS, LESSONS, Claim
from ..recipes import TEACHER_CONFIG, student_recipe, teacher_train_logits
from ..stats import over_seeds, paired_difference
from ..serve import tasks
from ..serve.teacher_cache import cached_teacher
from ..train import TrainConfig

ASSETS = Path(__file__).resolve().parents[2] / "assets"  # lab/lessons/check.py -> the repository

# What a claim can measure, per seed (the unit is the claim's).
MEASURES = {
    "gain": "distilled minus labels-only test accuracy (points)",
    "gain_interval_low": "lower end of the exact paired 95 % interval of that gain (lab.stats.paired_from_counts; "
                         "points)",
    "mean_gain_interval_low": "lower end of the 95 % bootstrap interval (over test images, each image's seeds "
                              "kept together; the exact paired interval for one seed) of the gain averaged over "
                              "the seeds (points; a pooled claim)",
    "mean_gain_seed_interval_low": "lower end of the 95 % t-interval over seeds of the mean gain, what the "
                                   "Distill page's repeat over seeds shows (points; a pooled claim)",
    "teacher_accuracy": "the teacher's test accuracy (%)",
    "second_choice_same_kind": "share of test images whose teacher's runner-up class is of the same kind as its first "
                               "choice, e.g. animal or vehicle (lab.dark_knowledge.KINDS; %)",
    "second_choice_above_chance": "lower end of that share's 95 % interval minus the share a random runner-up would "
                                  "reach (points)",
    "cat_dog_rank": "rank of cat ↔ dog among the class pairs the teacher finds most alike at the lesson's T "
                    "(1 = most alike; CIFAR-10)",
    "omitted_class_after_bias": "distilled student's accuracy on the omitted class after the automatic bias (%)",
    "omitted_class_before_bias": "distilled student's accuracy on the omitted class before any bias (%)",
    "omitted_class_labels_only": "labels-only student's accuracy on the omitted class before any bias (%)",
    "omitted_class_labels_only_after_bias": "labels-only student's accuracy on the omitted class after its own "
                                            "automatic bias, chosen as the distilled student's is (%)",
}


@dataclass(frozen=True)
class Subject:
    """One thing whose claims are checked: a lesson, or a dataset's default Distill run."""
    name: str
    settings: dict                   # dataset, student, temperature, alpha, epochs, hidden_class, ...
    claims: tuple[Claim, ...]
    teacher: str = "pretrained"      # "pretrained" | "per-seed" (teacher_config with the run's seed) | "cached"
    teacher_config: TrainConfig = TEACHER_CONFIG
    as_page: bool = False            # trained by the Distill page's own job (tasks.pair), not as a stack


@dataclass(frozen=True)
class ClaimResult:
    lesson: str
    claim: str
    measure: str
    unit: str
    bound: float
    above: bool
    seeds: tuple[int, ...]
    values: tuple[float, ...]        # one per seed (a pooled claim: each seed's gain)
    details: tuple[dict, ...] = ()   # per seed: every outcome measured (accuracies, interval, ...)
    skipped: str = ""                # why it was not run (e.g. a dataset's files are absent)
    pooled: float | None = None      # a pooled claim's one value, computed from every seed's run

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def spread(self) -> float | None:
        """Sample standard deviation over seeds (None with fewer than two)."""
        return statistics.stdev(self.values) if len(self.values) > 1 else None

    @property
    def passed(self) -> bool | None:
        """True when the claim holds on every seed; None when skipped."""
        if self.skipped:
            return None
        if self.pooled is not None:
            return _holds(self.pooled, self.bound, self.above)
        return bool(self.values) and all(_holds(v, self.bound, self.above) for v in self.values)

    def as_dict(self) -> dict:
        return {"lesson": self.lesson, "claim": self.claim, "measure": self.measure, "unit": self.unit,
                "bound": self.bound, "above": self.above, "seeds": list(self.seeds), "values": list(self.values),
                "mean": self.mean, "spread": self.spread,
                "min": min(self.values) if self.values else None, "max": max(self.values) if self.values else None,
                "pooled": self.pooled, "passed": self.passed, "skipped": self.skipped or None,
                "details": list(self.details)}


def _holds(value: float, bound: float, above: bool) -> bool:
    return math.isfinite(value) and (value > bound if above else value < bound)


# ---------------------------------------------------------------- subjects

def lesson_subject(lesson) -> Subject:
    """A lesson as the app runs it: the pretrained teacher, unless the lesson trains its own."""
    s = lesson.settings
    own = s["teacher_epochs"] != defaults_for(s["dataset"]).teacher.epochs or not pretrained_dir(s["dataset"]).is_dir()
    return Subject(lesson.key, dict(s), tuple(lesson.claims), "per-seed" if own else "pretrained",
                   replace(TEACHER_CONFIG, epochs=s["teacher_epochs"]))


def defaults_subject(dataset_name: str) -> Subject:
    """A dataset's default Distill run and its claims: the settings a fresh Distill page holds for
    that dataset (dataset_defaults.run_settings, what the widgets start from), run as the page runs it."""
    from .dataset_defaults import defaults_for, run_settings
    d = defaults_for(dataset_name)
    settings = {**DEFAULTS, **run_settings(dataset_name), "page": "distill"}
    shipped = pretrained_dir(dataset_name).is_dir() and _card_config(dataset_name) == _recipe(d.teacher)
    return Subject(f"defaults:{dataset_name}", settings, d.claims, "pretrained" if shipped else "cached",
                   d.teacher, as_page=True)


def subjects(lessons: Iterable[str] | None = None, datasets: Iterable[str] | None = None) -> list[Subject]:
    """Every lesson (or the named ones) and every dataset with measured defaults (or the named ones).
    Datasets named without lessons: their default runs and the lessons set on them (CIFAR-10's lesson)."""
    from .dataset_defaults import DATASET_DEFAULTS
    if lessons is None:
        keys = [k for k, lesson in LESSONS.items() if datasets is None or lesson.settings["dataset"] in datasets]
    else:
        keys = list(lessons)
    unknown = [k for k in keys if k not in LESSONS]
    if unknown:
        raise LabError(f"Unknown lesson {unknown[0]!r}. Lessons: {', '.join(LESSONS)}.")
    names = list(DATASET_DEFAULTS) if datasets is None else list(datasets)
    with_lessons = {LESSONS[k].settings["dataset"] for k in keys}
    unknown = [n for n in names if n not in DATASET_DEFAULTS and n not in with_lessons]
    if unknown:
        raise LabError(f"No measured defaults and no lesson for dataset {unknown[0]!r}. Datasets: "
                       f"{', '.join(dict.fromkeys([*DATASET_DEFAULTS, *sorted(with_lessons)]))}.")
    return ([lesson_subject(LESSONS[k]) for k in keys]
            + [defaults_subject(n) for n in names if n in DATASET_DEFAULTS])


def available(dataset_name: str) -> str:
    """"" if the dataset's files are here (nothing is downloaded by a check), else why not."""
    if dataset_name == "mnist-sample" or locate(dataset_name) is not None:
        return ""
    return (f"{dataset_name} is not on this machine (no files in the data folder or the system folder); "
            f"install it (e.g. Debian's dataset-{dataset_name} package) to check it.")


# ---------------------------------------------------------------- teachers

def pretrained_dir(dataset_name: str) -> Path:
    return ASSETS / f"teacher-{dataset_name}"


def _recipe(config: TrainConfig) -> dict:
    return {k: v for k, v in config.as_dict().items() if k not in ("device", "report_every")}


def _card_config(dataset_name: str) -> dict:
    card = checkpoints.read_card(pretrained_dir(dataset_name))
    return _recipe(TrainConfig(**{k: v for k, v in (card.get("config") or {}).items()
                                  if k in TrainConfig.__dataclass_fields__}))


@functools.lru_cache(maxsize=4)
def _pretrained(dataset_name: str) -> torch.nn.Module:
    model, _ = checkpoints.load(pretrained_dir(dataset_name))
    return model.eval()


def teacher_for(subject: Subject, dataset: Dataset, seed: int, root: Path | None = None) -> torch.nn.Module:
    if subject.teacher == "pretrained":
        return _pretrained(dataset.name)
    config = subject.teacher_config
    if subject.teacher == "per-seed":
        config = replace(config, seed=seed)
    model, _, _ = cached_teacher(dataset, subject.settings["teacher"], config, root=root)
    return model.eval()


# ---------------------------------------------------------------- one seed

def _drain(generator):
    """Run an experiment-style generator (Progress events) to its `return` value."""
    while True:
        try:
            next(generator)
        except StopIteration as done:
            return done.value


def _student_config(settings: dict, seed: int) -> TrainConfig:
    """The students' schedule the Distill page uses: the dataset's student recipe (lab.recipes), at the
    settings' epochs and this seed."""
    return replace(student_recipe(settings["dataset"], settings["student"]), epochs=int(settings["epochs"]), seed=seed)


def pair_outcomes(subject: Subject, dataset: Dataset, teacher: torch.nn.Module, seed: int) -> dict:
    """Hard-label and distilled student of the Distill page, from one initialization."""
    s = subject.settings
    config = _student_config(s, seed)
    cells = [(s["temperature"], 0.0), (s["temperature"], s["alpha"])]
    logits = teacher_train_logits(teacher, dataset, config.device)
    hard, distilled = _drain(train_grid(Runs("lessons", 1), subject.name, s["student"], dataset, seed, cells,
                                        logits, config))
    return _pair_measures([test_logits(m, dataset) for m in (hard, distilled)], test_logits(teacher, dataset),
                          dataset)


def page_pair_outcomes(subject: Subject, dataset: Dataset, teacher: torch.nn.Module, seed: int) -> dict:
    """The Distill page's job itself (lab.serve.tasks.pair, as the page starts it): the lab's student
    schedule at the subject's epochs and this seed, logit KD, the two students taking turns."""
    s = subject.settings
    spec = {"dataset": dataset, "teacher": tasks.TeacherRef(model=teacher), "student": s["student"],
            "T": float(s["temperature"]), "alpha": float(s["alpha"]), "method": "kd",
            "config": _student_config(s, seed), "transfer": defaults_for(s["dataset"]).transfer}
    measured = {name: m for name, m in tasks.pair(spec, None) if isinstance(m, tasks.Measured)}
    if len(measured) != 2:
        raise LabError(f"The default run of {s['dataset']} did not finish both students on seed {seed}.")
    outcome = _pair_measures([measured["hard"].test_logits, measured["distilled"].test_logits],
                             test_logits(teacher, dataset), dataset)
    outcome["trained_with"] = {"epochs": int(s["epochs"]), "temperature": float(s["temperature"]),
                               "alpha": float(s["alpha"]), "student": s["student"]}
    return outcome


def _pair_measures(student_logits: list[torch.Tensor], teacher_logits: torch.Tensor, dataset: Dataset) -> dict:
    """The pair's outcomes from the (labels, distilled) students' test logits and the teacher's."""
    labels = dataset.test_labels.cpu()
    right = [(logits.argmax(-1) == labels).numpy() for logits in student_logits]
    diff = paired_difference(right[0], right[1])  # exact paired interval (lab.stats.paired_from_counts)
    teacher_acc = (teacher_logits.argmax(-1) == labels).double().mean().item()
    return {"labels_accuracy": 100 * diff.accuracy_a, "distilled_accuracy": 100 * diff.accuracy_b,
            "gain": 100 * diff.difference, "gain_interval_low": 100 * diff.low,
            "gain_interval_high": 100 * diff.high, "only_labels_right": diff.only_a,
            "only_distilled_right": diff.only_b, "teacher_accuracy": 100 * teacher_acc, "n_test": diff.n,
            "_right": right}  # (labels, distilled): which test images each gets right, for pooled claims


def omit_outcomes(subject: Subject, dataset: Dataset, teacher: torch.nn.Module, seed: int) -> dict:
    """The omitted-class experiment as Lesson 3 opens it on the Experiments page."""
    s = subject.settings
    config = omit.OmitConfig(omitted_class=s["hidden_class"], student=s["student"], temperature=s["temperature"],
                             alpha=s["alpha"], epochs=s["epochs"], seed=seed)
    last = finish(omit.run(dataset, teacher, config))
    if last.status != "finished":
        raise LabError(f"The omitted-class run ended early ({last.status}): {last.message}")
    return omit.outcomes(last.result)  # the measures Lesson 3's claims name


TEACHER_MEASURES = ("teacher_accuracy", "second_choice_same_kind", "second_choice_above_chance", "cat_dog_rank")


def teacher_only(subject: Subject) -> bool:
    """A lesson about the teacher's soft targets alone (CIFAR-10's): no student is trained to check it."""
    return bool(subject.claims) and all(c.measure in TEACHER_MEASURES for c in subject.claims)


def teacher_outcomes(subject: Subject, dataset: Dataset, teacher: torch.nn.Module) -> dict:
    """What the teacher's test logits say on their own: its accuracy, how often its runner-up is of
    the same kind as its first choice (lab.dark_knowledge), and the rank of cat ↔ dog among the
    pairs it finds most alike at the lesson's T."""
    logits, labels = test_logits(teacher, dataset), dataset.test_labels.cpu()
    found = {"teacher_accuracy": 100 * (logits.argmax(-1) == labels).double().mean().item(), "n_test": len(labels)}
    if dataset.name in KINDS:
        kind = second_choice_kind(logits, dataset.classes, KINDS[dataset.name])
        found.update(second_choice_same_kind=100 * kind["rate"], second_choice_chance=100 * kind["chance"],
                     second_choice_above_chance=100 * (kind["low"] - kind["chance"]))
    if {"cat", "dog"} <= set(dataset.classes):
        similarity = class_similarity(logits, labels, float(subject.settings["temperature"]), dataset.num_classes)
        ranked = [{p["a"], p["b"]} for p in confusable_pairs(similarity, dataset.classes, top=len(dataset.classes) ** 2)]
        found["cat_dog_rank"] = 1 + ranked.index({"cat", "dog"})
    return found


def outcomes(subject: Subject, seed: int, teacher_root: Path | None = None) -> dict:
    """Everything measured for one subject on one seed (MEASURES keys and more)."""
    dataset = load(subject.settings["dataset"])
    teacher = teacher_for(subject, dataset, seed, teacher_root)
    if teacher_only(subject):
        return teacher_outcomes(subject, dataset, teacher)
    if subject.settings.get("hidden_class") is not None:
        return omit_outcomes(subject, dataset, teacher, seed)
    if subject.as_page:
        return page_pair_outcomes(subject, dataset, teacher, seed)
    return pair_outcomes(subject, dataset, teacher, seed)


# ---------------------------------------------------------------- pooled over seeds

def _seed_interval_low(measured: list[dict]) -> float:
    low = over_seeds([m["gain"] for m in measured]).low
    return float("nan") if low is None else low  # one seed has no spread: the claim cannot hold


def _image_interval_low(measured: list[dict]) -> float:
    """The seed-averaged gain's paired bootstrap over test images (each image keeps its seeds together;
    one seed gets the exact paired interval instead: lab.stats.paired_over_seeds)."""
    from ..experiments.frontier import seed_averaged_interval
    return 100 * seed_averaged_interval([m["_right"][0] for m in measured], [m["_right"][1] for m in measured])[1]


POOLED = {"mean_gain_interval_low": _image_interval_low, "mean_gain_seed_interval_low": _seed_interval_low}


# ---------------------------------------------------------------- the check

def _run_key(subject: Subject) -> tuple:
    """What determines a subject's training runs (its claims and name do not)."""
    s = subject.settings
    run = tuple(s[k] for k in ("dataset", "teacher", "student", "temperature", "alpha", "epochs", "hidden_class"))
    return run + (subject.teacher, tuple(sorted(_recipe(subject.teacher_config).items())), subject.as_page,
                  teacher_only(subject))


def check(subject_list: Iterable[Subject], seeds: Iterable[int] = range(5),
          report: Callable[[str], None] | None = None, teacher_root: Path | None = None) -> list[ClaimResult]:
    """Train every subject on every seed; one ClaimResult per claim (skipped where its data is absent)."""
    seeds = tuple(int(s) for s in seeds)
    results = []
    done: dict[tuple, dict] = {}  # a run two subjects share (Lesson 1 is mnist-sample's default run) trains once
    for subject in subject_list:
        missing = available(subject.settings["dataset"])
        measured = []
        if not missing:
            for seed in seeds:
                start = time.perf_counter()
                # the shipped teacher's own answers do not depend on the seed: measured once for all seeds
                same_every_seed = teacher_only(subject) and subject.teacher == "pretrained"
                key = (_run_key(subject), None if same_every_seed else seed)
                if key not in done:
                    done[key] = outcomes(subject, seed, teacher_root)
                measured.append(done[key])
                if report is not None:
                    shown = ", ".join(f"{c.measure} {measured[-1][c.measure]:+.1f}" for c in subject.claims
                                      if not c.pooled)
                    report(f"{subject.name} seed {seed}: {shown} ({time.perf_counter() - start:.0f} s)")
        elif report is not None:
            report(f"{subject.name}: skipped. {missing}")
        details = tuple({k: (round(v, 3) if isinstance(v, float) else v) for k, v in m.items()
                         if not k.startswith("_")} for m in measured)
        for claim in subject.claims:
            assert claim.measure in MEASURES, f"unknown measure {claim.measure!r}"
            pooled = None
            if claim.pooled and measured:
                pooled = round(POOLED[claim.measure](measured), 3)
            per_seed = "gain" if claim.pooled else claim.measure
            results.append(ClaimResult(subject.name, claim.text, claim.measure, claim.unit, claim.bound, claim.above,
                                       seeds if not missing else (),
                                       tuple(round(m[per_seed], 3) for m in measured), details, missing, pooled))
    return results
