"""benchmarks/peers/kd_tutorial.py: PyTorch's KD tutorial as published (its nets' sizes, its loss),
and a smoke run of the whole script on a tiny CIFAR-shaped folder (no timing asserted)."""
import json
import math

import pytest
import torch
from torch.nn import functional as F

from benchmarks.peers import kd_tutorial as peer
from lab.lessons.dataset_defaults import defaults_for
from lab.losses import distillation_loss


def test_the_tutorials_nets_have_the_sizes_it_prints():
    # counted by hand from its layers: conv weights + biases, then the linear layers
    deep = (3 * 128 * 9 + 128) + (128 * 64 * 9 + 64) + (64 * 64 * 9 + 64) + (64 * 32 * 9 + 32) \
        + (2048 * 512 + 512) + (512 * 10 + 10)
    light = (3 * 16 * 9 + 16) + (16 * 16 * 9 + 16) + (1024 * 256 + 256) + (256 * 10 + 10)
    assert (peer.params(peer.DeepNN()), peer.params(peer.LightNN())) == (deep, light) == (1_186_986, 267_738)


def test_the_soft_target_loss_is_the_tutorials_formula_by_hand():
    # two classes, one image: teacher logits (0, ln 3) at T = 1 -> targets (1/4, 3/4);
    # student logits (0, 0) -> log probs (ln 1/2, ln 1/2); loss = -(1/4 + 3/4) ln 1/2 = ln 2
    loss = peer.soft_target_loss(torch.zeros(1, 2), torch.tensor([[0.0, math.log(3)]]), 1.0)
    assert loss.item() == pytest.approx(math.log(2), rel=1e-6)
    # at T = 2 the logits are halved and the result scaled by T² = 4 (teacher (0, 2 ln 3) -> the same targets)
    loss = peer.soft_target_loss(torch.zeros(1, 2), torch.tensor([[0.0, 2 * math.log(3)]]), 2.0)
    assert loss.item() == pytest.approx(4 * math.log(2), rel=1e-6)


def test_its_weights_are_the_labs_alpha_025_up_to_the_teachers_entropy():
    """0.25 · soft CE + 0.75 · CE = the lab's α = 0.25 KD loss + 0.25 · T² · H(teacher at T): same gradient."""
    g = torch.Generator().manual_seed(0)
    student = torch.randn(8, 10, generator=g, requires_grad=True)
    teacher, labels = torch.randn(8, 10, generator=g), torch.randint(0, 10, (8,), generator=g)
    theirs = 0.25 * peer.soft_target_loss(student, teacher, 2.0) + 0.75 * F.cross_entropy(student, labels)
    ours = distillation_loss(student, teacher, labels, 2.0, 0.25)
    p = F.softmax(teacher / 2, -1)
    entropy = -(p * p.log()).sum(-1).mean()
    assert theirs.item() == pytest.approx(ours.item() + 0.25 * 4 * entropy.item(), rel=1e-5)
    (g_theirs,) = torch.autograd.grad(theirs, student)
    (g_ours,) = torch.autograd.grad(ours, student)
    torch.testing.assert_close(g_theirs, g_ours)


def test_a_smoke_run_prints_one_table(tmp_path, monkeypatch, capsys):
    from conftest import write_cifar_folder
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path / "data"))
    write_cifar_folder(tmp_path / "data" / "cifar-10-batches-py", n_per_batch=40)
    assert peer.main(["--epochs", "1", "--skip-lab", "--json", str(tmp_path / "r.json"),
                      "--markdown", str(tmp_path / "r.md")]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert [r["model"] for r in result["rows"]] == ["teacher DeepNN", "student LightNN, labels",
                                                    "student LightNN, distilled"]
    assert all(0 <= r["test_accuracy"] <= 100 and r["wall_s"] > 0 and r["epochs"] == 1 for r in result["rows"])
    assert len(result["load_start"]) == 3 and "| tutorial | teacher DeepNN |" in (tmp_path / "r.md").read_text()
    capsys.readouterr()


def test_the_labs_row_is_its_distill_command_timed_from_outside(tmp_path, monkeypatch, capsys):
    from conftest import write_cifar_folder
    from lab.cli import main as lab
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path / "data"))
    write_cifar_folder(tmp_path / "data" / "cifar-10-batches-py", n_per_batch=40)
    assert lab(["teacher", "--dataset", "cifar10", "--model", "student-mlp", "--epochs", "1", "--batch-size", "64",
                "--out", str(tmp_path / "teacher")]) == 0
    assert peer.main(["--skip-tutorial", "--lab-teacher", str(tmp_path / "teacher"),
                      "--json", str(tmp_path / "r.json")]) == 0
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    student = defaults_for("cifar10").student  # `lab distill` with no options: CIFAR-10's default run
    assert [r["model"].split(" (")[0] for r in rows] == [
        "teacher student-mlp", f"student {student}, labels", f"student {student}, distilled",
        "the whole `lab distill` command"]
    card = json.loads((tmp_path / "teacher" / "model.json").read_text())
    assert rows[0]["test_accuracy"] == 100 * card["metrics"]["test_accuracy"]
    assert all(0 <= r["test_accuracy"] <= 100 for r in rows[1:3]) and rows[3]["wall_s"] > 0 and rows[3]["cpu_s"] > 0
    capsys.readouterr()
