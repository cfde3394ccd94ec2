import pytest
import torch

from lab import models


@pytest.mark.parametrize("name", list(models.MODELS))
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_every_model_takes_both_image_shapes(name, shape):
    model = models.build(name, shape, 10)
    assert model(torch.randn(4, *shape)).shape == (4, 10)
    assert model.arch == name


def test_students_are_at_least_ten_times_smaller_than_the_teacher():
    teacher = models.count_params(models.build(models.DEFAULT_TEACHER))
    for name in models.STUDENTS:
        assert models.count_params(models.build(name)) * 10 <= teacher, name


def test_macs_counted_by_hooks_match_hand_count():
    # MLP 784 -> 48 -> 10: 784*48 + 48*10 multiply-adds.
    assert models.count_macs(models.build("student-mlp"), (1, 28, 28)) == 784 * 48 + 48 * 10
    # A single 3x3 conv 1->8 on 28x28 (padding 1): 28*28*8*9, then the rest of the tiny CNN.
    tiny = models.count_macs(models.build("student-cnn-tiny"), (1, 28, 28))
    assert tiny == 28 * 28 * 8 * 9 + 14 * 14 * 16 * 8 * 9 + 16 * 10


def test_describe_reports_size_and_latency():
    info = models.describe(models.build("student-cnn-tiny"), (1, 28, 28))
    # by hand: conv 1->8 3x3 (no bias) + BatchNorm(8) γ,β + conv 8->16 3x3 + BatchNorm(16) + linear 16->10
    assert info["params"] == 1 * 8 * 9 + 2 * 8 + 8 * 16 * 9 + 2 * 16 + (16 * 10 + 10) == 1442
    # and the MLP, 784 -> 48 -> 10 with biases
    assert models.count_params(models.build("student-mlp")) == 784 * 48 + 48 + 48 * 10 + 10
    # float32 weights + BatchNorm buffers + a small safetensors header
    assert 4 * info["params"] < info["bytes"] < 4 * info["params"] + 4096
    assert info["latency_ms_b1"] > 0 and info["latency_ms_b256"] > 0


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="Choose one of"):
        models.build("resnet-9000")
