"""A stacked grid of students must train exactly like the separate runs it replaces."""
import copy
from dataclasses import replace

import torch

from lab.losses import SoftTargets, distillation_loss
from lab.recipes import init_model
from lab.sweep import GridSoftTargets, StackedModels, distill_grid
from lab.train import TrainConfig, run_to_end, train

TINY = TrainConfig(epochs=1, batch_size=100, lr=5e-3, device="cpu", augment=False, report_every=10)


def test_grid_loss_matches_the_reference_loss_per_member():
    torch.manual_seed(0)
    s, t, y = torch.randn(3, 16, 10), torch.randn(40, 10), torch.randint(0, 10, (16,))
    index = torch.arange(16) * 2
    temps, alphas = [1.0, 4.0, 8.0], [0.0, 0.5, 1.0]
    objective = GridSoftTargets(temps, alphas, t)
    loss, _ = objective(lambda x: s, None, y, index)
    expected = sum(distillation_loss(s[g], t[index], y, temps[g], alphas[g]) for g in range(3))
    assert torch.allclose(loss, expected, rtol=1e-5)


def test_stacked_students_train_like_separate_runs(sample):
    initial = init_model("student-mlp", sample, seed=1)
    teacher_logits = torch.randn(len(sample.train_labels), 10, generator=torch.Generator().manual_seed(0)) * 3
    cells = [(2.0, 0.5), (8.0, 0.9)]
    stack = StackedModels([copy.deepcopy(initial) for _ in cells])
    stacked = run_to_end(train(stack, sample, GridSoftTargets(*zip(*cells), teacher_logits), TINY))
    assert stacked.status == "finished" and 0 < stacked.metrics["test_accuracy"] <= 1
    for member, (T, alpha) in zip(stack.unstack(), cells):
        alone = copy.deepcopy(initial)
        run_to_end(train(alone, sample, SoftTargets(T, alpha, teacher_logits=teacher_logits), TINY))
        for (name, a), (_, b) in zip(alone.state_dict().items(), member.state_dict().items()):
            assert torch.allclose(a, b, atol=1e-5), name


def test_distill_grid_reports_every_cell_and_the_hard_baseline(sample):
    teacher_logits = torch.randn(len(sample.train_labels), 10)
    events = list(distill_grid(sample, None, [2.0, 4.0], [0.5], seeds=(0,), student="student-mlp",
                               config=replace(TINY, epochs=1), teacher_logits=teacher_logits))
    kind, rows = events[-1]
    assert kind == "result" and len(rows) == 3
    assert [r["alpha"] for r in rows] == [None, 0.5, 0.5]
    assert all(0 <= r["test_accuracy"] <= 1 for r in rows)
