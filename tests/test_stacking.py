"""A stacked grid of students must train exactly like the separate runs it replaces."""
import copy
from dataclasses import replace

import torch

from lab.data import normalize
from lab.losses import SoftTargets
from lab.metrics import predict_logits
from lab.recipes import init_model
from lab.stacking import StackedModels, distill_grid
from lab.train import TrainConfig, run_to_end, train

TINY = TrainConfig(epochs=1, batch_size=100, lr=5e-3, device="cpu", augment=False, report_every=10)


def test_each_stacked_member_gets_exactly_its_own_gradient(sample):
    """The stack sums the members' losses, so member g's gradient is the one it would get alone."""
    initial = init_model("student-mlp", sample, seed=1)
    teacher_logits = torch.randn(len(sample.train_labels), 10, generator=torch.Generator().manual_seed(0)) * 3
    cells = [(2.0, 0.5), (8.0, 0.9), (1.0, 0.0)]
    index = torch.arange(0, 4000, 40)
    x, y = normalize(sample.train_images[index], sample.mean, sample.std), sample.train_labels[index]
    stack = StackedModels([copy.deepcopy(initial) for _ in cells])
    loss, _ = SoftTargets(*zip(*cells), teacher_logits)(stack, x, y, index)
    loss.backward()
    for g, (T, alpha) in enumerate(cells):
        alone = copy.deepcopy(initial)
        loss, _ = SoftTargets(T, alpha, teacher_logits=teacher_logits)(alone, x, y, index)
        loss.backward()
        for (name, p), stacked in zip(alone.named_parameters(), stack._params().values()):
            assert torch.allclose(p.grad, stacked.grad[g], rtol=1e-4, atol=1e-7), (T, alpha, name)


def test_stacked_students_train_like_separate_runs(sample):
    """Whole runs: same batches, same init, same schedule. Not bit-equal (AdamW's first steps turn
    rounding-level differences of near-zero gradients into full-size steps), so compare what the
    runs learned: the members predict like their separate twins."""
    initial = init_model("student-mlp", sample, seed=1)
    # a teacher that knows the labels (plus noise), so the students learn a real, stable function
    noise = torch.randn(len(sample.train_labels), 10, generator=torch.Generator().manual_seed(0))
    teacher_logits = 6 * torch.nn.functional.one_hot(sample.train_labels, 10).float() + noise
    cells = [(2.0, 0.5), (8.0, 0.9)]
    stack = StackedModels([copy.deepcopy(initial) for _ in cells])
    stacked = run_to_end(train(stack, sample, SoftTargets(*zip(*cells), teacher_logits), TINY))
    assert stacked.status == "finished" and 0 < stacked.metrics["test_accuracy"] <= 1
    members = stack.unstack()
    alone = []
    for T, alpha in cells:
        model = copy.deepcopy(initial)
        run_to_end(train(model, sample, SoftTargets(T, alpha, teacher_logits=teacher_logits), TINY))
        alone.append(model)
    predict = lambda m: predict_logits(m, sample.test_images, sample.mean, sample.std).argmax(-1)
    for member, twin, other in zip(members, alone, reversed(alone)):
        same = (predict(member) == predict(twin)).float().mean().item()
        assert same >= 0.97, same
        # and closer to its own twin than to the other cell's run: the (T, α) really is per member
        cross = (predict(member) == predict(other)).float().mean().item()
        print(f"agreement with its twin {same:.3f}, with the other cell {cross:.3f}")
        assert same > cross


def test_distill_grid_reports_every_cell_and_the_hard_baseline(sample):
    teacher_logits = torch.randn(len(sample.train_labels), 10)
    events = list(distill_grid(sample, None, [2.0, 4.0], [0.5], seeds=(0,), student="student-mlp",
                               config=replace(TINY, epochs=1), teacher_logits=teacher_logits))
    kind, rows = events[-1]
    assert kind == "result" and len(rows) == 3
    assert [r["alpha"] for r in rows] == [None, 0.5, 0.5]
    assert all(0 <= r["test_accuracy"] <= 1 for r in rows)
