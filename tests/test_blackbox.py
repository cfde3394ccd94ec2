"""Distilling a black box (lab/experiments/blackbox.py): what each setting lets the student see,
checked on hand-computed examples and against the lab's own KD loss; the invariants that make the
experiment mean what it says (top-K is full-logit KD, the unlabeled student never reads a label,
a budget is a number of teacher queries, nested and growing); and blackbox.json's contract."""
import json
import math
from dataclasses import replace

import pytest
import torch

from lab import checkpoints
from lab.errors import ConfigError
from lab.experiments import blackbox, finish
from lab.losses import distillation_loss

TEACHER = "assets/teacher-mnist-sample"


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_EXPERIMENT_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def teacher():
    return checkpoints.load(TEACHER)[0]


def tiny(**changes) -> blackbox.BlackBoxConfig:
    base = blackbox.BlackBoxConfig(settings=("full-logits", "unlabeled"), budgets=(200, 600), seeds=(0,),
                                   epochs=1, device="cpu")
    return replace(base, **changes)


def result_of(sample, teacher, config):
    last = finish(blackbox.run(sample, teacher, config))
    assert last.status == "finished", last.message
    return last.result


# ---------------------------------------------------------------- what each setting returns

def test_views_on_a_hand_computed_example():
    p = torch.tensor([[0.5, 0.3, 0.1, 0.1]])
    top1 = blackbox.view(p, "top-1").exp()
    # 0.5 returned; the other 0.5 spread over the 3 classes not returned
    assert torch.allclose(top1, torch.tensor([[0.5, 1 / 6, 1 / 6, 1 / 6]]))
    top2 = blackbox.view(p, "top-2").exp()
    assert torch.allclose(top2, torch.tensor([[0.5, 0.3, 0.1, 0.1]]))  # leftover 0.2 over two classes
    top3 = blackbox.view(torch.tensor([[0.6, 0.25, 0.1, 0.05]]), "top-3").exp()
    assert torch.allclose(top3, torch.tensor([[0.6, 0.25, 0.1, 0.05]]))
    assert torch.equal(blackbox.view(p, "answer").exp(), torch.tensor([[1.0, 0, 0, 0]]))
    for name in ("full-logits", "unlabeled", "top-4", "top-9"):
        assert torch.allclose(blackbox.view(p, name).exp(), p)
    # a class with no mass is a finite floor (exp -> exactly 0), so the KL has no 0 · (−inf)
    assert torch.isfinite(blackbox.view(p, "answer")).all()


def test_settings_are_described_and_unknown_ones_refused():
    assert blackbox.describe_setting("top-5") == {"name": "top-5", "k": 5, "uses_labels": True,
                                                  "returns": "the 5 largest probabilities"}
    assert blackbox.describe_setting("unlabeled")["uses_labels"] is False
    assert blackbox.describe_setting("answer")["k"] is None
    for bad in ("top-0", "top-", "logits", "Top-2"):
        with pytest.raises(ConfigError, match="Choose from"):
            blackbox.describe_setting(bad)
    with pytest.raises(ConfigError, match="whole numbers"):
        blackbox.BlackBoxConfig(budgets=(100, 0))
    with pytest.raises(ConfigError):
        blackbox.BlackBoxConfig(budgets=(100, 100))


def test_member_targets_is_the_labs_kd_loss_and_top_k_of_all_classes_is_full_logit_kd():
    """The independent reference is losses.distillation_loss (Hinton et al.'s formula, tested
    against its analytic gradient in test_losses.py) on the teacher's raw logits."""
    g = torch.Generator().manual_seed(0)
    teacher_logits = 3 * torch.randn(16, 10, generator=g)
    labels = torch.randint(0, 10, (16,), generator=g)
    student_logits = torch.randn(16, 10, generator=g, requires_grad=True)
    reference = distillation_loss(student_logits, teacher_logits, labels, 4.0, 0.9)
    (ref_grad,) = torch.autograd.grad(reference, student_logits)
    probabilities = torch.softmax(teacher_logits, -1)
    for setting in ("full-logits", "top-10"):
        objective = blackbox.MemberTargets(blackbox.view(probabilities, setting).unsqueeze(0), [4.0], [0.9])
        loss, _ = objective(lambda x: student_logits, None, labels, torch.arange(16))
        (grad,) = torch.autograd.grad(loss, student_logits)
        assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
        assert torch.allclose(grad, ref_grad, atol=1e-6)
    # the answer setting at T = 1 is cross-entropy on the teacher's top class, blended with the labels
    answer = blackbox.MemberTargets(blackbox.view(probabilities, "answer").unsqueeze(0), [1.0], [0.9])
    loss, _ = answer(lambda x: student_logits, None, labels, torch.arange(16))
    ce = torch.nn.functional.cross_entropy
    expected = 0.9 * ce(student_logits, teacher_logits.argmax(-1)) + 0.1 * ce(student_logits, labels)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_top10_trains_the_same_student_as_full_logit_kd(sample, teacher):
    result = result_of(sample, teacher, tiny(settings=("full-logits", "top-10")))
    for full, top10 in zip(result["accuracies"]["full-logits"], result["accuracies"]["top-10"]):
        assert top10 == pytest.approx(full, abs=0.003)  # the targets agree to float rounding


# ---------------------------------------------------------------- budgets and labels

def test_unlabeled_setting_never_reads_a_label(sample, teacher):
    """Poison every training label: the unlabeled student is bit for bit the same, while the
    students that use labels (and the baseline) do change — so the poison did reach the run."""
    config = tiny(settings=("full-logits", "unlabeled"))
    clean = result_of(sample, teacher, config)
    poisoned_labels = (sample.train_labels + 1 + torch.arange(len(sample.train_labels)) % 7) % 10
    poisoned = result_of(replace(sample, train_labels=poisoned_labels), teacher, config)
    assert poisoned["accuracies"]["unlabeled"] == clean["accuracies"]["unlabeled"]
    assert poisoned["baseline"]["accuracies"] != clean["baseline"]["accuracies"]
    assert poisoned["baseline"]["mean"][-1] < 0.5  # trained on wrong labels: far below the clean baseline
    assert [s["uses_labels"] for s in clean["settings"]] == [True, False]


def test_a_budget_is_teacher_queries_nested_and_growing(sample, teacher, monkeypatch):
    asked = []
    real = blackbox.BlackBox.__call__

    def spy(self, images):
        asked.append(images.clone())
        return real(self, images)
    monkeypatch.setattr(blackbox.BlackBox, "__call__", spy)
    n = len(sample.train_labels)
    budgets = (300, 1000, n + 500)
    result = result_of(sample, teacher, tiny(budgets=budgets[::-1]))  # given in any order
    assert result["budgets"] == list(budgets) == result["queries"]
    assert all(b <= a for b, a in zip(result["queries"], result["queries"][1:]))
    # each image asked about once: the calls together are exactly the largest budget's transfer set
    assert [len(x) for x in asked] == [300, 700, n + 500 - 1000]
    images, _, source = blackbox.transfer_set(sample, list(budgets), 0)
    assert torch.equal(torch.cat(asked), images)
    # no image of the training set is used twice before all have been used; beyond, augmented copies
    assert len(set(source[:n].tolist())) == n
    copies, originals = images[n:], sample.train_images[source[n:]]
    assert (copies != originals).flatten(1).any(1).float().mean() > 0.9
    # nested: a smaller budget's transfer set is the start of a larger one's, copies included
    smaller = blackbox.transfer_set(sample, [n + 200], 0)[0]
    assert torch.equal(smaller, images[:n + 200])


# ---------------------------------------------------------------- the JSON contract, through the command

def test_blackbox_command_writes_the_contract(tmp_path, capsys):
    from lab.cli import main
    out = tmp_path / "out"
    assert main(["blackbox", "--teacher", TEACHER, "--settings", "full-logits,top-1,answer,unlabeled",
                 "--budgets", "200,400", "--seeds", "0,1", "--epochs", "1", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    result = json.loads((out / "blackbox.json").read_text())
    assert printed == result
    assert [(s["name"], s["k"], s["uses_labels"]) for s in result["settings"]] == [
        ("full-logits", None, True), ("top-1", 1, True), ("answer", None, True), ("unlabeled", None, False)]
    assert result["budgets"] == [200, 400]
    for name in ("full-logits", "top-1", "answer", "unlabeled"):
        per_budget = result["accuracies"][name]
        assert len(per_budget) == 2 and all(len(seeds) == 2 for seeds in per_budget)
        assert all(0.1 < a <= 1 for seeds in per_budget for a in seeds)
        assert result["mean"][name] == [pytest.approx(sum(s) / 2) for s in per_budget]
    baseline = result["baseline"]
    assert baseline["labeled_images"] == [200, 400] and len(baseline["accuracies"]) == 2
    assert "spread uniformly" in result["leftover_mass"]
    step = result["per_1000_queries"]["top-1"][0]
    assert step == pytest.approx(1000 * (result["mean"]["top-1"][1] - result["mean"]["top-1"][0]) / 200)
    assert math.isfinite(result["teacher_accuracy"])


def test_bad_settings_end_with_one_error_line(tmp_path, capsys):
    from lab.cli import main
    assert main(["blackbox", "--teacher", TEACHER, "--settings", "top-zero", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: Unknown setting")
