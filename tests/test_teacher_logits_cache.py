"""teacher_train_logits computes a teacher's logits on the training images once per process: a copy
of the same teacher (each app job distills from its own copy) gets them without a forward pass,
and a changed weight or dataset never gets stale ones. The reference is a direct predict_logits."""
import copy
from dataclasses import replace

import torch

from lab import recipes
from lab.metrics import predict_logits
from lab.recipes import init_model, teacher_train_logits


def small(sample, n=300):
    return replace(sample, name="small", train_images=sample.train_images[:n], train_labels=sample.train_labels[:n])


def forward_counter(model):
    calls = []
    model.register_forward_pre_hook(lambda module, args: calls.append(len(args[0])))
    return calls


def test_a_copy_of_the_teacher_reuses_its_logits_and_matches_a_direct_forward_pass(sample):
    data = small(sample)
    teacher = init_model("student-mlp", data, seed=3)
    reference = predict_logits(teacher, data.train_images, data.mean, data.std)
    first = teacher_train_logits(copy.deepcopy(teacher), data, "cpu")
    again = copy.deepcopy(teacher)
    calls = forward_counter(again)
    second = teacher_train_logits(again, data, "cpu")
    assert torch.allclose(first, reference) and torch.equal(first, second)
    assert calls == []  # no forward pass for the copy
    second.add_(1.0)    # the caller's own tensor: the next caller still gets the teacher's logits
    assert torch.equal(teacher_train_logits(copy.deepcopy(teacher), data, "cpu"), first)


def test_a_changed_weight_or_dataset_is_computed_again(sample):
    data = small(sample)
    teacher = init_model("student-mlp", data, seed=4)
    before = teacher_train_logits(teacher, data, "cpu")
    with torch.no_grad():
        next(teacher.parameters()).add_(0.5)
    calls = forward_counter(teacher)
    after = teacher_train_logits(teacher, data, "cpu")
    assert calls and not torch.allclose(before, after)
    assert torch.allclose(after, predict_logits(teacher, data.train_images, data.mean, data.std))
    other = replace(data, train_images=data.train_images.flip(-1))  # same name and shape, other images
    assert torch.allclose(teacher_train_logits(teacher, other, "cpu"),
                          predict_logits(teacher, other.train_images, other.mean, other.std))


def test_only_a_few_teachers_stay_in_memory(sample):
    data = small(sample, n=50)
    for seed in range(recipes.TRAIN_LOGITS_KEPT + 3):
        teacher_train_logits(init_model("student-mlp", data, seed=100 + seed), data, "cpu")
    assert len(recipes._train_logits) == recipes.TRAIN_LOGITS_KEPT


def test_a_checkpoint_saved_with_its_logits_is_not_run_again(sample, tmp_path):
    """A teacher folder may carry its training-set logits (the shipped CIFAR-10 teacher does): loading it
    and asking for them reads the file, with no forward pass, while the key (weights, images,
    normalization, device) matches; another dataset or a changed weight computes them afresh."""
    from lab import checkpoints
    data = small(sample)
    teacher = init_model("student-mlp", data, seed=5)
    checkpoints.save(tmp_path, teacher, checkpoints.make_card(teacher, data, {}))
    recipes.save_train_logits(teacher, data, tmp_path)
    recipes._train_logits.clear()  # as in a new process
    loaded, _ = checkpoints.load(tmp_path)
    calls = forward_counter(loaded)
    logits = teacher_train_logits(loaded, data, "cpu")
    assert calls == [] and torch.equal(logits, predict_logits(teacher, data.train_images, data.mean, data.std))
    other = replace(data, train_images=data.train_images.flip(-1))
    assert torch.allclose(teacher_train_logits(loaded, other, "cpu"),
                          predict_logits(teacher, other.train_images, other.mean, other.std))
    assert calls  # computed: the stored logits are for other images
