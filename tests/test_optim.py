"""lab.optim: airbench's SGD schedule and parameter groups, and its Lookahead averaging, checked
against the numbers written out by hand from the recipe (Jordan 2024, airbench94)."""
import pytest
import torch

from lab import models
from lab.optim import Lookahead, make_optimizer
from lab.train import TrainConfig


def test_sgd_schedule_warms_up_then_decays_linearly():
    """lr/5 at step 0, the peak after 23 % of the steps, 0.07 × the peak at the end, linear between."""
    model = models.build("student-airbench-100x", (3, 32, 32))
    config = TrainConfig(optimizer="sgd", lr=1.0, weight_decay=1e-3, momentum=0.85, bias_lr_scale=64.0)
    optimizer, schedule = make_optimizer(model, [], config, total_steps=100)
    lrs = []
    for _ in range(100):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs[0] == pytest.approx(0.2) and lrs[23] == pytest.approx(1.0) and lrs[100] == pytest.approx(0.07)
    assert lrs[10] == pytest.approx(0.2 + 0.8 * 10 / 23) and lrs[60] == pytest.approx(1 - 0.93 * 37 / 77)
    group = optimizer.param_groups[0]
    assert group["nesterov"] and group["momentum"] == 0.85


def test_batchnorm_biases_learn_faster_but_decay_no_faster():
    model = models.build("student-airbench-100x", (3, 32, 32))
    config = TrainConfig(optimizer="sgd", lr=0.5, weight_decay=1e-3, bias_lr_scale=64.0)
    optimizer, _ = make_optimizer(model, [], config, total_steps=10)
    others, biases = optimizer.param_groups
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert {id(p) for p in biases["params"]} == {id(m.bias) for m in norms}
    assert biases["lr"] == pytest.approx(64 * others["lr"] * 1.0)
    # the decay step lr · wd is the same for both groups
    assert biases["lr"] * biases["weight_decay"] == pytest.approx(others["lr"] * others["weight_decay"])
    # frozen tensors (the whitening filters, the BatchNorm scales) are in no group
    trained = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert id(model.body[0].weight) not in trained and all(id(m.weight) not in trained for m in norms)
    assert id(model.body[0].bias) in trained


def test_lookahead_pulls_weights_towards_their_running_average():
    """Every 5 steps: a ← a + (1 − d)(w − a), w ← a, d = 0.95⁵ (step/total)³; finish() hands a over."""
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    look = Lookahead(model, total_steps=10)
    with torch.no_grad():
        model.weight.fill_(1.0)
    look.step(4)  # not a multiple of 5: nothing happens
    assert model.weight.item() == 1.0
    look.step(5)
    d = 0.95 ** 5 * 0.5 ** 3
    assert model.weight.item() == pytest.approx(1 - d) and look.average["weight"].item() == pytest.approx(1 - d)
    with torch.no_grad():
        model.weight.fill_(3.0)
    look.finish()  # d = 1: the average, unchanged, replaces the weights
    assert model.weight.item() == pytest.approx(1 - d)
