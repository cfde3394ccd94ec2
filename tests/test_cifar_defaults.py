"""CIFAR-10's default Distill run (issue 16): `python -m lab distill --teacher <a cifar10 teacher>` with
no options trains the dataset's measured defaults (lab/lessons/dataset_defaults.py: student, T, α,
epochs) with its students' recipe (lab.recipes.STUDENT_RECIPES: airbench's SGD, un-augmented so the
teacher's logits are cached); a student outside that recipe's family keeps the lab's AdamW schedule."""
import json

import pytest

from lab.cli import main
from lab.lessons.dataset_defaults import defaults_for
from lab.recipes import STUDENT_CONFIG, STUDENT_RECIPES, teacher_recipe


@pytest.fixture
def tiny_cifar(tmp_path, monkeypatch):
    from conftest import write_cifar_folder
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path / "data"))
    write_cifar_folder(tmp_path / "data" / "cifar-10-batches-py", n_per_batch=40)
    assert main(["teacher", "--dataset", "cifar10", "--model", "student-mlp", "--epochs", "1", "--batch-size", "64",
                 "--out", str(tmp_path / "teacher")]) == 0
    return tmp_path


def _config(folder):
    return json.loads((folder / "model.json").read_text())["config"]


def test_cifar10_has_measured_defaults_for_its_own_students():
    d = defaults_for("cifar10")
    assert d.measured and d.claims and d.why.endswith(".")
    assert d.student.startswith("student-airbench") and d.epochs == STUDENT_RECIPES["cifar10"].epochs
    # The teacher the defaults name is the shipped one's recipe (what `lessons --check` compares the card with).
    assert d.teacher == teacher_recipe("cifar10", "shipped").config


def test_distill_without_options_trains_cifar10s_default_pair(tiny_cifar, capsys):
    out = tiny_cifar / "pair"
    assert main(["distill", "--teacher", str(tiny_cifar / "teacher"), "--out", str(out)]) == 0
    d, recipe = defaults_for("cifar10"), STUDENT_RECIPES["cifar10"]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["student"], summary["temperature"], summary["alpha"]) == (d.student, d.temperature, d.alpha)
    for name in ("hard", "distilled"):
        config = _config(out / name)
        assert (config["optimizer"], config["epochs"], config["batch_size"], config["augment"]) == (
            "sgd", d.epochs, recipe.batch_size, False)
    capsys.readouterr()


def test_a_student_outside_the_recipe_keeps_the_labs_schedule(tiny_cifar, capsys):
    out = tiny_cifar / "mlp"
    assert main(["distill", "--teacher", str(tiny_cifar / "teacher"), "--student", "student-mlp", "--epochs", "1",
                 "--out", str(out)]) == 0
    config = _config(out / "hard")
    assert (config["optimizer"], config["lr"], config["batch_size"]) == (
        STUDENT_CONFIG.optimizer, STUDENT_CONFIG.lr, STUDENT_CONFIG.batch_size)
    capsys.readouterr()
