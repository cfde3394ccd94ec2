"""The FitNets hint objective (lab/objectives.py `Hint`): the loss against the formula written out
by hand (Romero et al. 2015, RepDistiller's β = 100), taken at the middle block of each network,
with the teacher's features computed per batch — nothing in the objective grows with the dataset."""
import pytest
import torch
import torch.nn.functional as F

from lab.errors import ConfigError
from lab.models import build
from lab.objectives import Hint, hint_layer, make_objective
from lab.recipes import init_model


@pytest.mark.parametrize("arch,shape", [("teacher-cnn", (64, 7, 7)), ("student-cnn-small", (32, 7, 7)),
                                        ("student-cnn-tiny", (8, 14, 14)), ("student-mlp", (48,))])
def test_the_hint_is_taken_at_the_middle_block(arch, shape):
    """From the zoo's descriptions: teacher-cnn = 32 (stride 2, 14×14) → 64 → pool (7×7) → 128 → pool;
    student-cnn-small = 16 → pool → 32 → pool → 32; student-cnn-tiny = 8 → pool → 16 → pool."""
    model = build(arch).eval()
    x = torch.zeros(1, 1, 28, 28)
    layers = list(model.body)
    for layer in layers[:hint_layer(model) + 1]:
        x = layer(x)
    assert tuple(x.shape[1:]) == shape
    if arch.startswith(("teacher", "student-cnn")):
        assert hint_layer(model) < len(layers) - 1  # an intermediate map, not the last one


def test_the_hint_loss_is_ce_plus_beta_times_the_feature_mse(sample, trained_teacher):
    teacher = trained_teacher[0].cpu().eval()
    teacher.zero_grad(set_to_none=True)  # (its training left the last step's gradients)
    student = init_model("student-cnn-small", sample, 0)
    objective = Hint(student, teacher, sample, seed=0)
    assert objective.weight == 100.0  # RepDistiller: train_student.py --distill hint -a 0 -b 100
    torch.manual_seed(3)
    x, y = torch.randn(6, 1, 28, 28), torch.randint(0, 10, (6,))
    student.train()
    loss, logits = objective(student, x, y, torch.arange(6))
    # by hand: the student's map after its second conv block and pool, the teacher's after its second
    b = student.body
    f_s = b[3](b[2](b[1](b[0](x))))                       # (6, 32, 7, 7)
    with torch.no_grad():
        t = teacher.body
        f_t = t[2](t[1](t[0](x)))                         # (6, 64, 7, 7)
    z = student.head(b[4](f_s))
    expected = F.cross_entropy(z, y) + 100 * ((objective.regressor(f_s) - f_t) ** 2).mean()
    assert torch.allclose(logits, z, atol=1e-5) and torch.allclose(loss, expected, rtol=1e-5)
    loss.backward()
    assert objective.regressor.weight.grad is not None
    assert all(p.grad is None for p in teacher.parameters())  # the teacher is never trained
    assert not list(objective.parameters())[2:]  # only the regressor's weight and bias


def test_nothing_in_the_hint_objective_grows_with_the_dataset(sample, trained_teacher):
    """Features are computed per batch: the objective's tensors are the same size for 400 images
    as for 4,000 (the old cache held the teacher's (N, C, H, W) map: ~750 MB on 60,000 images)."""
    def held_numel(objective):
        tensors = [v for v in vars(objective).values() if isinstance(v, torch.Tensor)]
        return sum(t.numel() for t in tensors) + sum(t.numel() for t in objective.state_dict().values())
    small = sample.subset(torch.arange(0, len(sample.train_labels), 10))
    for arch in ("student-mlp", "student-cnn-tiny"):
        sizes = [held_numel(Hint(init_model(arch, d, 0), trained_teacher[0], d)) for d in (small, sample)]
        assert sizes[0] == sizes[1]


def test_the_hint_weight_is_a_parameter(sample, trained_teacher):
    student = init_model("student-mlp", sample, 0)
    logits = torch.zeros(len(sample.train_labels), 10)
    assert make_objective("hint", student, trained_teacher[0], sample, logits, weight=3.0).weight == 3.0
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="hint weight"):
            Hint(student, trained_teacher[0], sample, weight=bad)
    # the same seed gives the same regressor: part of the experiment's seed
    a, b = (Hint(init_model("student-cnn-tiny", sample, 0), trained_teacher[0], sample, seed=1) for _ in range(2))
    assert isinstance(a.regressor, torch.nn.Conv2d) and torch.equal(a.regressor.weight, b.regressor.weight)
    assert isinstance(Hint(student, trained_teacher[0], sample).regressor, torch.nn.Linear)
