"""The default Distill run, chosen per dataset: the teacher recipe, the student, T, α and epochs.

The right T and α depend on the data and the teacher: on full Fashion-MNIST the mnist-sample
settings (T = 4, α = 0.9) make the distilled student *lose* to the label-trained one. Each entry
here was measured (EXPERIMENTS.md, "Defaults per dataset"), carries the sentence the Distill
page shows to say why it suits its dataset, and the claims `python -m lab lessons --check`
checks on it: the default run's gain lies beyond its noise on every seed.

    d = defaults_for("fashion-mnist")        # d.temperature, d.alpha, d.epochs, d.teacher, d.why
    run_settings("fashion-mnist")            # the Distill page's settings for it (widgets, links, the check)
    switch_dataset(settings, "fashion-mnist")  # -> (settings with its defaults, "T 4 → 2, α 0.9 → 0.25" notice)
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from .claims import Claim
from ..recipes import DEFAULT_ALPHA, DEFAULT_TEMPERATURE, STUDENT_CONFIG, STUDENT_RECIPES, TEACHER_CONFIG, teacher_recipe
from ..train import TrainConfig


@dataclass(frozen=True)
class DistillDefaults:
    dataset: str
    teacher: TrainConfig       # how its teacher is trained (the Teacher page's and `lab teacher`'s defaults)
    student: str
    temperature: float
    alpha: float
    epochs: int                # of each student
    why: str                   # one sentence for the Distill page
    measured: bool = True      # False: no measurement on this dataset yet (the mnist-sample settings)
    claims: tuple[Claim, ...] = ()
    transfer: int | None = None  # both students learn from the first N training images (None: all)

    def sentence(self) -> str:
        """The settings and why they suit the dataset, for the Distill page (one caption)."""
        images = f" on the first {self.transfer:,} training images" if self.transfer else ""
        return (f"Defaults for {self.dataset}: {self.student}, T = {self.temperature:g}, α = {self.alpha:g}, "
                f"{self.epochs} epochs{images}; teacher {self.teacher.epochs} epochs. {self.why}")


def _gain_claims(dataset: str, each_run_beyond_noise: bool, every_seed_by: float = 0.1) -> tuple[Claim, ...]:
    """The default run gains on every seed (by more than `every_seed_by` points), and over the seeds the
    mean gain lies beyond noise by both intervals: over test images (which images happened to be in the
    test split) and over seeds (the t-interval the Distill page's Repeat over seeds shows). With
    `each_run_beyond_noise`, every single run's own paired interval lies above 0 too (only a large test
    set makes that possible)."""
    by = f" by more than {every_seed_by:g} point" if every_seed_by else ""
    claims = [Claim(f"{dataset} defaults: on every seed the distilled student beats the labels-only one{by}",
                    "gain", every_seed_by),
              Claim(f"{dataset} defaults: the mean gain over the seeds lies beyond noise (95 % bootstrap interval "
                    "over test images above 0)", "mean_gain_interval_low", 0.0, pooled=True),
              Claim(f"{dataset} defaults: the mean gain over the seeds lies beyond noise (95 % t-interval over "
                    "seeds above 0)", "mean_gain_seed_interval_low", 0.0, pooled=True)]
    if each_run_beyond_noise:
        claims.insert(1, Claim(f"{dataset} defaults: every single run's paired 95 % interval of the gain lies "
                               "above 0", "gain_interval_low", 0.0))
    return tuple(claims)


DATASET_DEFAULTS: dict[str, DistillDefaults] = {d.dataset: d for d in [
    DistillDefaults(
        "mnist-sample", TEACHER_CONFIG, "student-mlp", DEFAULT_TEMPERATURE, DEFAULT_ALPHA, STUDENT_CONFIG.epochs,
        "On 4,000 clean digits the teacher is right on 98.8 % of test images, so the student can lean on its "
        "softened targets (α = 0.9), and T = 4 lifts the small probabilities of look-alike digits into view; it "
        "needs 30 epochs (at 12 the gain vanished). One run's interval on 1,000 test images is about ±1.2 points, "
        "as wide as the gain (+0.7 to +1.8 over 5 seeds): repeat over 5 seeds to see it beyond noise.",
        claims=_gain_claims("mnist-sample", each_run_beyond_noise=False)),
    DistillDefaults(
        "fashion-mnist", TEACHER_CONFIG, "student-mlp", 2.0, 0.25, STUDENT_CONFIG.epochs,
        "The Fashion-MNIST teacher is right on only 92.6 % of test images and its mistakes cluster in shirts, "
        "T-shirts, pullovers and coats, so the student keeps most of its weight on the true labels (α = 0.25) and "
        "a mild T = 2 passes on which classes look alike without spreading the teacher's errors; at the "
        "mnist-sample settings (T = 4, α = 0.9) the distilled student loses 0.4 point to the label-trained one. "
        "The gain is small (+0.3 to +0.7 over 5 seeds) and one run's interval (about ±0.45 on 10,000 images) "
        "reaches 0 on most seeds: repeat over 5 seeds to see it beyond noise.",
        claims=_gain_claims("fashion-mnist", each_run_beyond_noise=False)),
    DistillDefaults(
        "cifar10", teacher_recipe("cifar10", "shipped").config, "student-airbench-100x", 4.0, 0.9,
        STUDENT_RECIPES["cifar10"].epochs,
        "The shipped teacher (94.5 %) learned with label smoothing, which flattens its soft targets (at T = 4 its "
        "top class gets 22 % on average): its dark knowledge is thin, so the students learn from the first 10,000 "
        "training images, where labels alone overfit and Hinton's T = 4, α = 0.9 help most (chosen on 5,000 held-out "
        "training images). The gain is small: +0.7 points on average over 5 seeds (+0.1 to +1.4; 95 % interval over "
        "seeds +0.04 to +1.3), each pair about 2.5 minutes on 2 cores, and one run's interval (about ±1 point on "
        "10,000 test images) reaches 0 on 4 seeds of 5: repeat over 5 seeds to see it beyond noise.",
        claims=_gain_claims("cifar10", each_run_beyond_noise=False, every_seed_by=0.0), transfer=10_000),
]}


def defaults_for(dataset: str) -> DistillDefaults:
    """The measured defaults of `dataset`, else the mnist-sample ones marked as not measured there."""
    if dataset in DATASET_DEFAULTS:
        return DATASET_DEFAULTS[dataset]
    base = DATASET_DEFAULTS["mnist-sample"]
    return replace(base, dataset=dataset, measured=False, claims=(),
                   why=f"These are the mnist-sample settings: they have not been measured on {dataset} yet, so "
                       "compare the two students' interval before trusting a gain.")


# The Distill page's settings a dataset's default run sets (the rest, seed and page, are the user's).
RUN_SETTINGS = ("student", "temperature", "alpha", "epochs", "teacher_epochs")
_SHORT = {"student": "student", "temperature": "T", "alpha": "α", "epochs": "epochs", "teacher_epochs": "teacher epochs"}


def run_settings(dataset: str) -> dict:
    """The settings of `dataset`'s default Distill run, named as lab.lessons.presets names them: what
    a fresh page's widgets hold, what a link that names only the dataset opens, and what
    `lessons --check` trains as the "default run" (one function, so the three cannot drift apart)."""
    d = defaults_for(dataset)
    return {"dataset": dataset, "student": d.student, "temperature": d.temperature, "alpha": d.alpha,
            "epochs": d.epochs, "teacher_epochs": d.teacher.epochs}


def switch_dataset(settings: dict, dataset: str) -> tuple[dict, str | None]:
    """`settings` (presets' names) moved to `dataset` with its default run's settings, and one line
    naming what changed ("Defaults for fashion-mnist: T 4 → 2, α 0.9 → 0.25."), None if nothing did.
    Only the keys `settings` has are changed (a page that keeps no teacher epochs gets none)."""
    wanted = run_settings(dataset)
    changed = {k: wanted[k] for k in RUN_SETTINGS if k in settings and settings[k] != wanted[k]}
    moved = {**settings, "dataset": dataset, **changed}
    if not changed:
        return moved, None
    shown = ", ".join(f"{_SHORT[k]} {_text(settings[k])} → {_text(v)}" for k, v in changed.items())
    return moved, f"Defaults for {dataset}: {shown}."


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
