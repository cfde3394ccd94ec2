"""CIFAR-10's lesson (lab.lessons.presets "cifar-kinds") and how `lessons --check --dataset cifar10`
checks it: its claims read the teacher's test logits alone (no student is trained), measured here
on hand-made logits whose answers are counted by hand."""
import json

import pytest
import torch

from lab.cli import main
from lab.data import CIFAR10, Dataset
from lab.lessons import check as lesson_check
from lab.lessons.check import check, lesson_subject, subjects, teacher_only
from lab.lessons.dataset_defaults import DATASET_DEFAULTS
from lab.lessons.presets import LESSONS


def _dataset(labels) -> Dataset:
    n = len(labels)
    images = torch.zeros(n, 3, 32, 32, dtype=torch.uint8)
    return Dataset("cifar10", images, torch.tensor(labels), images, torch.tensor(labels), CIFAR10,
                   (0.5,) * 3, (0.25,) * 3, "data folder", "hand-made")


def _logits(*rows):
    """(top class, runner-up class, runner-up's logit) per image; 5 on the top class, 0 elsewhere."""
    logits = torch.zeros(len(rows), 10)
    for row, (top, second, value) in zip(logits, rows):
        row[CIFAR10.index(top)], row[CIFAR10.index(second)] = 5.0, value
    return logits


def test_naming_cifar10_checks_its_lesson_and_only_the_teacher():
    names = [s.name for s in subjects(None, ["cifar10"])]
    assert names[0] == "cifar-kinds" and set(names[1:]) <= {"defaults:cifar10"}
    assert ("defaults:cifar10" in names) == ("cifar10" in DATASET_DEFAULTS)
    assert teacher_only(lesson_subject(LESSONS["cifar-kinds"]))
    assert not teacher_only(lesson_subject(LESSONS["dark-knowledge"]))
    assert [s.name for s in subjects(None, ["fashion-mnist"])] == ["defaults:fashion-mnist"]  # no lesson there
    assert [s.name for s in subjects(["no-help"], [])] == ["no-help"]


def test_the_lessons_claims_on_hand_made_logits(monkeypatch):
    # a cat whose runner-up is a dog, a dog whose runner-up is a cat, then a car -> truck and a ship ->
    # airplane with weaker runners-up: every runner-up of the same kind, and cat <-> dog the most alike pair
    dataset = _dataset([CIFAR10.index(c) for c in ("cat", "dog", "automobile", "ship")])
    logits = _logits(("cat", "dog", 3.0), ("dog", "cat", 3.0), ("automobile", "truck", 1.0), ("ship", "airplane", 1.0))
    monkeypatch.setattr(lesson_check, "load", lambda name: dataset)
    monkeypatch.setattr(lesson_check, "locate", lambda name: ("data folder", None))
    monkeypatch.setattr(lesson_check, "teacher_for", lambda *args: torch.nn.Identity())
    monkeypatch.setattr(lesson_check, "test_logits", lambda model, data: logits)
    results = {r.measure: r for r in check([lesson_subject(LESSONS["cifar-kinds"])], seeds=(0,))}
    assert set(results) == {"second_choice_same_kind", "second_choice_above_chance", "cat_dog_rank"}
    assert results["second_choice_same_kind"].values == (100.0,) and results["second_choice_same_kind"].passed
    # chance: 5 of the 9 other classes after an animal, 3 of 9 after a vehicle; the exact interval's lower
    # end for 4 of 4 is 0.025 ** (1/4) (Clopper-Pearson): 4 images are far too few to beat chance by 30 points
    chance = (5 / 9 + 5 / 9 + 3 / 9 + 3 / 9) / 4
    assert results["second_choice_above_chance"].values[0] == pytest.approx(100 * (0.025 ** 0.25 - chance), abs=1e-3)
    assert results["second_choice_above_chance"].passed is False
    assert results["cat_dog_rank"].values == (1,) and results["cat_dog_rank"].passed
    details = results["cat_dog_rank"].details[0]
    assert details["teacher_accuracy"] == 100.0 and details["second_choice_chance"] == pytest.approx(100 * chance,
                                                                                                     abs=1e-3)


def test_the_cli_lists_the_cifar_lesson_for_its_dataset(capsys):
    assert main(["lessons", "--dataset", "cifar10", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    mine = [r for r in rows if r["lesson"] == "cifar-kinds"]
    assert [r["measure"] for r in mine] == ["second_choice_same_kind", "second_choice_above_chance", "cat_dog_rank"]
    assert mine[0]["settings"]["dataset"] == "cifar10" and mine[0]["settings"]["page"] == "soft-targets"


def test_the_shipped_teachers_answers_are_measured_once_for_every_seed(monkeypatch):
    dataset = _dataset([CIFAR10.index("cat"), CIFAR10.index("dog")])
    asked = []
    monkeypatch.setattr(lesson_check, "load", lambda name: dataset)
    monkeypatch.setattr(lesson_check, "locate", lambda name: ("data folder", None))
    monkeypatch.setattr(lesson_check, "teacher_for", lambda *args: torch.nn.Identity())
    monkeypatch.setattr(lesson_check, "test_logits",
                        lambda model, data: asked.append(1) or _logits(("cat", "dog", 3.0), ("dog", "cat", 3.0)))
    subject = lesson_subject(LESSONS["cifar-kinds"])
    from dataclasses import replace
    results = check([replace(subject, teacher="pretrained")], seeds=(0, 1, 2))
    assert len(asked) == 1 and all(r.values == (r.values[0],) * 3 for r in results)
    check([replace(subject, teacher="per-seed")], seeds=(0, 1, 2))  # a teacher per seed: asked per seed
    assert len(asked) == 1 + 3
