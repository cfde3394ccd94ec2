"""Distilling a black box: a teacher we can only query, paid per image, that returns little.

What the student gets from the teacher, one setting at a time (`SETTINGS`):

    full-logits   every class's probability (the lab's KD; probabilities and logits give the same
                  softened targets: softmax(log p / T) = softmax(z / T))
    top-k         the k largest probabilities (k = 1, 2, 5; any "top-<k>" works). The leftover mass
                  1 − Σ top-k is SPREAD UNIFORMLY over the classes not returned, not dropped by
                  renormalizing the k: every probability the API returned stays exactly true, the
                  unknown rest gets the maximum-entropy guess, and top-1 still says how sure the
                  teacher was (renormalized, top-1 would be a one-hot, i.e. only the answer).
                  With k = K classes this is exactly full-logit KD (tests/test_blackbox.py).
    answer        only the teacher's top class (pseudo-labels; no temperature: T = 1)
    unlabeled     no labels of our own: every target comes from the teacher (full probabilities, α = 1)

All but `unlabeled` blend in our own labels as the lab's KD does (α on the teacher's term); the
baseline is the same student on labels alone, on the same images.

A query budget: the teacher is called once per image it labels. For each seed, the transfer set
is a random prefix of the training set (nested: a larger budget holds every image of a smaller one;
drawn without looking at labels), and beyond the whole set, augmented copies of it, each copy a new
query. Every run takes the optimizer steps of `epochs` epochs over the whole training set, so a
small budget is not also a short training run. One stacked run per (budget, seed) trains every
setting's student and the baseline from the same initial weights on the same batches.
"""
from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F

from ..data import Dataset, augment
from ..errors import ConfigError
from ..limits import MAX_BUDGET, MAX_BUDGETS, check_count, check_epochs, check_seeds, subset_epoch_limit
from ..losses import check_temperature_alpha, distillation_loss
from ..metrics import accuracy, predict_logits
from ..models import DEFAULT_STUDENT, MODELS
from ..recipes import DEFAULT_ALPHA, DEFAULT_TEMPERATURE, STUDENT_CONFIG
from ..stacking import StackedModels
from .common import Progress, Runs, cached, drive, fresh_student, on_device, stackable, student_config, test_logits
from .transfer_size import epochs_for

NAME = "blackbox"
SETTINGS = ("full-logits", "top-5", "top-2", "top-1", "answer", "unlabeled")
BUDGET_FRACTIONS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2)  # of the training set: the default budgets
LEFTOVER = ("spread uniformly over the classes not returned (keeps every returned probability exact, "
            "maximum-entropy guess for the rest; renormalizing would turn top-1 into a one-hot answer and "
            "overstate the teacher's confidence)")
LOG_FLOOR = -1e4  # log 0 for a class with no mass: exp() gives exactly 0, and 0 · finite = 0 in the KL


def describe_setting(name: str) -> dict:
    """{"name", "k", "uses_labels", "returns"} of a setting, or a ConfigError naming the choices."""
    if name == "full-logits":
        return {"name": name, "k": None, "uses_labels": True, "returns": "all probabilities"}
    if name == "answer":
        return {"name": name, "k": None, "uses_labels": True, "returns": "the top class only"}
    if name == "unlabeled":
        return {"name": name, "k": None, "uses_labels": False, "returns": "all probabilities, no labels of ours"}
    match = re.fullmatch(r"top-(\d+)", name)
    if match and int(match.group(1)) >= 1:
        return {"name": name, "k": int(match.group(1)), "uses_labels": True,
                "returns": f"the {match.group(1)} largest probabilities"}
    raise ConfigError(f"Unknown setting {name!r}. Choose from: full-logits, top-1, top-2, top-5 (any top-<k>), "
                      "answer, unlabeled.")


@dataclass(frozen=True)
class BlackBoxConfig:
    settings: tuple[str, ...] = SETTINGS
    budgets: tuple[int, ...] | None = None  # teacher queries; None: 1/16, 1/8, 1/4, 1/2, 1 and 2× the training set
    student: str = DEFAULT_STUDENT
    temperature: float = DEFAULT_TEMPERATURE
    alpha: float = DEFAULT_ALPHA
    seeds: tuple[int, ...] = (0, 1)
    epochs: int = STUDENT_CONFIG.epochs  # optimizer steps of this many epochs over the whole training set
    device: str = "auto"

    def __post_init__(self):
        check_temperature_alpha(self.temperature, self.alpha)
        if not self.settings or len(set(self.settings)) != len(self.settings):
            raise ConfigError(f"Give at least one setting, each once (got {list(self.settings)}).")
        for name in self.settings:
            describe_setting(name)
        if self.student not in MODELS:
            raise ConfigError(f"Unknown student {self.student!r}. Choose from: {', '.join(MODELS)}.")
        if self.budgets is not None and (not self.budgets or any(int(b) != b or b < 1 for b in self.budgets)
                                         or len(set(self.budgets)) != len(self.budgets)):
            raise ConfigError(f"Budgets are different whole numbers of teacher queries, at least 1 each "
                              f"(got {list(self.budgets)}), e.g. 250,500,1000.")
        check_count("settings", len(self.settings), len(SETTINGS) + 2)  # the six named ones and two more top-<k>
        if self.budgets is not None:
            check_count("budgets", len(self.budgets), MAX_BUDGETS)
            if max(self.budgets) > MAX_BUDGET:
                raise ConfigError(f"A budget is at most {MAX_BUDGET:,} teacher queries (got {max(self.budgets):,}).")
        check_seeds(self.seeds)
        check_epochs(self.epochs)


def budgets_for(config: BlackBoxConfig, n_train: int) -> list[int]:
    if config.budgets is not None:
        return sorted(int(b) for b in config.budgets)
    return sorted({max(1, round(f * n_train)) for f in BUDGET_FRACTIONS})


class BlackBox:
    """The teacher behind an API: uint8 images in, class probabilities out. It counts every image
    it is asked about — the only way the experiment reaches the teacher."""

    def __init__(self, teacher: torch.nn.Module, mean, std):
        self._teacher, self._mean, self._std = teacher, mean, std
        self.queries = 0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:  # (n, C, H, W) uint8 -> (n, K) float32
        self.queries += len(images)
        device = next(self._teacher.parameters()).device
        logits = predict_logits(self._teacher, images.to(device), self._mean, self._std)
        return F.softmax(logits.float(), dim=-1)


def view(probabilities: torch.Tensor, setting: str) -> torch.Tensor:
    """What the student sees of the teacher under `setting`, as (n, K) log-probabilities (log 0 = LOG_FLOOR)."""
    info = describe_setting(setting)
    p = probabilities.float()
    k_classes = p.shape[-1]
    if setting == "answer":
        q = F.one_hot(p.argmax(-1), k_classes).float()
    elif info["k"] is None or info["k"] >= k_classes:
        q = p
    else:
        top, where = p.topk(info["k"], dim=-1)
        leftover = (1 - top.sum(-1, keepdim=True)).clamp_min(0) / (k_classes - info["k"])
        q = leftover.expand_as(p).clone().scatter_(-1, where, top)
    return torch.log(q).clamp_min(LOG_FLOOR)


class MemberTargets:
    """Each stacked member g learns from its own targets (log-probabilities l_g), T_g and α_g:

        L = Σ_g [ α_g · T_g² · KL(softmax(l_g / T_g) ‖ softmax(z_g / T_g)) + (1 − α_g) · CE(z_g, y) ]

    one loss per member, which the engine sums so each gets its own run's gradient (lab.stacking):
    losses.distillation_loss with the member's targets in place of the teacher's logits. α_g = 0 is
    labels only; α_g = 1 never uses y (its CE term is multiplied by 0). A single model (not
    stacked) is member 0 of a stack of one.
    """

    name = "member-targets"

    def __init__(self, log_targets: torch.Tensor, temperatures, alphas):
        assert log_targets.dim() == 3 and len(temperatures) == len(alphas) == len(log_targets)
        for t, a in zip(temperatures, alphas):
            check_temperature_alpha(t, a)
        self.log_targets = log_targets  # (G, N, K) on the training device
        self.temperatures = torch.tensor([float(t) for t in temperatures])
        self.alphas = torch.tensor([float(a) for a in alphas])

    def __call__(self, model, images, labels, index):
        logits = model(images)
        device = logits.device
        targets, T, alpha = self.log_targets[:, index], self.temperatures.to(device), self.alphas.to(device)
        if logits.dim() == 2:  # one model: member 0
            targets, T, alpha = targets[0], T[0], alpha[0]
        # the one KD loss (lab.losses), one value per member: the engine sums the live ones
        return distillation_loss(logits, targets, labels, T, alpha), logits


def transfer_set(dataset: Dataset, budgets: list[int], seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images, labels, source index) of the largest budget's transfer set; budget b is its first b rows.
    A seeded permutation of the training set (labels never looked at), then rounds of augmented
    copies of it in the same order, round r drawn from its own seed: a copy is the same image
    whatever the largest budget, so the sets of different budgets are nested."""
    n = len(dataset.train_labels)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    rounds = -(-max(max(budgets) - n, 0) // n)  # passes of augmented copies needed
    images = [dataset.train_images.cpu()[order]]
    for r in range(1, rounds + 1):  # each copy is a new image (a new query): shifted, or cropped and flipped
        images.append(augment(images[0], dataset.augmentation, torch.Generator().manual_seed(1000 * seed + r)))
    source = order.repeat(rounds + 1)[:max(budgets)]
    return torch.cat(images)[:max(budgets)], dataset.train_labels.cpu()[source], source


def total_runs(dataset: Dataset, config: BlackBoxConfig) -> int:
    members = len(config.settings) + 1
    per = 1 if stackable(config.student, dataset) else members
    return len(budgets_for(config, len(dataset.train_labels))) * len(config.seeds) * per


def run(dataset: Dataset, teacher: torch.nn.Module, config: BlackBoxConfig = BlackBoxConfig(),
        stop=None) -> Iterator[Progress]:
    n_train = len(dataset.train_labels)
    budgets = budgets_for(config, n_train)
    settings = [describe_setting(s) for s in config.settings]
    names = [s["name"] for s in settings] + ["labels"]  # the last member: the labels-only baseline
    temperatures = [1.0 if s["name"] == "answer" else config.temperature for s in settings] + [1.0]
    alphas = [config.alpha if s["uses_labels"] else 1.0 for s in settings] + [0.0]
    total = total_runs(dataset, config)
    runs = Runs(NAME, total)
    device = on_device(config.device)

    def body():
        labels = dataset.test_labels.cpu()
        teacher_accuracy = accuracy(test_logits(teacher.to(device), dataset), labels)
        found = {name: [[] for _ in budgets] for name in names}
        queries = {}
        batch_size = student_config(config.epochs).batch_size
        for seed in config.seeds:
            images, train_labels, _ = transfer_set(dataset, budgets, seed)
            api = BlackBox(teacher.to(device), dataset.mean, dataset.std)
            answers, asked = [], 0
            for i, b in enumerate(budgets):
                answers.append(api(images[asked:b]))  # only the images not asked about yet
                asked = b
                probabilities = torch.cat(answers)
                assert api.queries == b == len(probabilities)
                queries.setdefault(b, api.queries)
                targets = torch.stack([view(probabilities, s["name"]) for s in settings]
                                      + [torch.zeros_like(probabilities)]).to(device)  # baseline: ignored (α = 0)
                corpus = _corpus(dataset, images[:b], train_labels[:b])
                epochs = epochs_for(b, n_train, config.epochs, batch_size)
                config_b = student_config(epochs, seed, config.device,
                                          epoch_limit=subset_epoch_limit(b, n_train, batch_size))
                trained = yield from _train_members(runs, f"{b:,} queries seed={seed}", corpus, seed, targets,
                                                    temperatures, alphas, config_b,
                                                    config.student, names, stop)
                for name, model in zip(names, trained):
                    found[name][i].append(accuracy(test_logits(model, dataset), labels))
        mean = {name: [statistics.fmean(a) for a in found[name]] for name in names}
        per_1000 = {name: [1000 * (mean[name][i + 1] - mean[name][i]) / (budgets[i + 1] - budgets[i])
                           for i in range(len(budgets) - 1)] for name in names}
        return {"settings": [{**s, "temperature": t, "alpha": a} for s, t, a in zip(settings, temperatures, alphas)],
                "budgets": budgets, "queries": [queries[b] for b in budgets],
                "accuracies": {name: found[name] for name in names[:-1]},
                "mean": {name: mean[name] for name in names[:-1]},
                "per_1000_queries": {name: per_1000[name] for name in names[:-1]},
                "baseline": {"name": "labels only", "uses_labels": True, "labeled_images": budgets,
                             "accuracies": found["labels"], "mean": mean["labels"],
                             "per_1000_images": per_1000["labels"]},
                "leftover_mass": LEFTOVER, "teacher_accuracy": teacher_accuracy, "student": config.student,
                "temperature": config.temperature, "alpha": config.alpha, "seeds": list(config.seeds),
                "epochs": config.epochs, "train_size": n_train, "augmented_copies": max(0, max(budgets) - n_train),
                "dataset": dataset.name, "n_test": len(labels)}

    yield from drive(NAME, body(), total)


def _corpus(dataset: Dataset, images: torch.Tensor, labels: torch.Tensor) -> Dataset:
    from dataclasses import replace
    return replace(dataset.to("cpu"), train_images=images, train_labels=labels)


def _train_members(runs: Runs, label: str, corpus: Dataset, seed: int, targets: torch.Tensor, temperatures,
                   alphas, config, arch: str, names: list[str], stop):
    """Every member from the seed's initial weights: one stacked run, or one run each (BatchNorm)."""
    if stackable(arch, corpus):
        stack = StackedModels([fresh_student(arch, corpus, seed) for _ in names])
        result = yield from runs.train(f"{label} ({len(names)} students at once)", stack, corpus,
                                       MemberTargets(targets, temperatures, alphas), config, stop)
        return result.model.unstack()
    models = []
    for g, name in enumerate(names):
        objective = MemberTargets(targets[g:g + 1], temperatures[g:g + 1], alphas[g:g + 1])
        result = yield from runs.train(f"{label} {name}", fresh_student(arch, corpus, seed), corpus, objective,
                                       config, stop)
        models.append(result.model)
    return models


def experiment(dataset: Dataset, teacher: torch.nn.Module, config: BlackBoxConfig = BlackBoxConfig(), stop=None,
               use_cache: bool = True) -> Iterator[Progress]:
    return cached(NAME, config, dataset, [teacher], lambda: run(dataset, teacher, config, stop), use_cache)


def next_thousand(result: dict, setting: str) -> float | None:
    """What the last 1,000 teacher calls bought (accuracy points per 1,000 queries, the last step)."""
    values = result["per_1000_queries"].get(setting) if setting != "labels" else result["baseline"]["per_1000_images"]
    return 100 * values[-1] if values else None
