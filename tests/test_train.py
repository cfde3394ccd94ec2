import itertools
import threading
from dataclasses import replace

import pytest
import torch

from lab.errors import ConfigError
from lab.losses import HardLabels, SoftTargets
from lab.recipes import STUDENT_CONFIG, distill_pair, init_model, teacher_train_logits
from lab.train import TrainConfig, train

TINY = TrainConfig(epochs=1, batch_size=100, lr=5e-3, device="cpu", augment=False, report_every=5)


def test_events_report_progress_and_end_with_a_result(sample):
    model = init_model("student-mlp", sample, seed=0)
    events = list(train(model, sample, HardLabels(), replace(TINY, epochs=2)))
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "finished" and kinds.count("epoch") == 2
    steps = [e for e in events if e.kind == "step"]
    assert [e.step for e in steps][:3] == [5, 10, 15] and events[-1].step == 80
    assert all(e.loss > 0 and e.images_per_s > 0 and 0 <= e.train_accuracy <= 1 for e in steps)
    assert steps[-1].loss < steps[0].loss  # it learns
    result = events[-1].result
    assert result.status == "finished" and result.metrics["test_accuracy"] > 0.75
    assert result.metrics["steps"] == 80 and len(result.history) == len(steps)


def test_stop_flag_ends_within_one_step(sample):
    stop = threading.Event()
    model = init_model("student-mlp", sample, seed=0)
    events = []
    for event in train(model, sample, HardLabels(), replace(TINY, epochs=5), stop=stop):
        events.append(event)
        if event.kind == "step" and event.step == 10:
            stop.set()
    assert events[-1].kind == "stopped" and events[-1].step == 10
    assert events[-1].result.model is model and events[-1].result.status == "stopped"


def test_a_stopped_run_reports_the_accuracy_of_the_model_it_returns(sample):
    """Stopped halfway through epoch 2: the returned model has trained on since epoch 1's test, so
    its recorded accuracy is measured on it, not copied from epoch 1 (what the history showed)."""
    from lab.metrics import accuracy, predict_logits
    stop = threading.Event()
    model = init_model("student-mlp", sample, seed=0)
    events = []
    for event in train(model, sample, HardLabels(), replace(TINY, epochs=3), stop=stop):
        events.append(event)
        if event.kind == "step" and event.step == 60:  # epoch 2 of 40 steps each
            stop.set()
    epoch_1 = next(e for e in events if e.kind == "epoch").test_accuracy
    last = events[-1]
    own = accuracy(predict_logits(last.result.model, sample.test_images, sample.mean, sample.std), sample.test_labels)
    assert last.kind == "stopped" and last.step == 60
    assert last.result.metrics["test_accuracy"] == own == last.test_accuracy
    assert last.result.metrics["evaluated_at_step"] == 60
    assert own != epoch_1  # 20 more steps changed the model's answers (so the old number was another model's)


def test_pulling_a_few_events_is_enough(sample):
    model = init_model("student-cnn-tiny", sample, seed=0)
    first = list(itertools.islice(train(model, sample, HardLabels(), TINY), 3))
    assert [e.kind for e in first] == ["start", "step", "step"]


def test_huge_learning_rate_reports_divergence(sample):
    model = init_model("student-mlp", sample, seed=0)
    config = replace(TINY, lr=1e12)
    last = list(train(model, sample, HardLabels(), config))[-1]
    assert last.kind == "diverged" and "Lower the learning rate" in last.message


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(lr=-1.0), dict(lr=float("nan")), dict(batch_size=0)])
def test_bad_config_is_refused(bad):
    with pytest.raises(ConfigError):
        TrainConfig(**bad)


def test_same_seed_same_initial_weights(sample):
    a, b = init_model("student-cnn-small", sample, 7), init_model("student-cnn-small", sample, 7)
    c = init_model("student-cnn-small", sample, 8)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.body[0][0].weight, c.body[0][0].weight)


def test_training_is_reproducible(sample):
    runs = []
    for _ in range(2):
        model = init_model("student-mlp", sample, seed=3)
        list(train(model, sample, HardLabels(), TINY))
        runs.append(model.head.weight.detach().clone())
    assert torch.allclose(runs[0], runs[1])


def test_distill_pair_starts_both_students_from_one_init(sample, trained_teacher, monkeypatch):
    teacher, _ = trained_teacher
    seen = []
    import lab.recipes as recipes
    original = recipes.train

    def spy(model, *args, **kwargs):
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        return original(model, *args, **kwargs)
    monkeypatch.setattr(recipes, "train", spy)
    pairs = list(distill_pair(sample, teacher, "student-mlp", 4.0, 0.9, replace(STUDENT_CONFIG, epochs=1, device="cpu")))
    assert [n for n, e in pairs if e.done] == ["hard", "distilled"]
    assert len(seen) == 2 and all(torch.equal(seen[0][k], seen[1][k]) for k in seen[0])


def test_distillation_follows_the_teacher(sample, trained_teacher):
    """With alpha = 1 the student learns from soft targets only, yet lands near the teacher."""
    teacher, _ = trained_teacher
    logits = teacher_train_logits(teacher, sample, "cpu")
    assert logits.shape == (4000, 10)
    student = init_model("student-mlp", sample, seed=0)
    last = list(train(student, sample, SoftTargets(4.0, 1.0, teacher_logits=logits), replace(TINY, epochs=4)))[-1]
    assert last.result.metrics["test_accuracy"] > 0.85
