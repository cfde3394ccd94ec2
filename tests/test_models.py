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
    for name in models.STUDENTS:  # the airbench-style ladder against its own (CIFAR-10) teacher
        teacher = "teacher-airbench" if "airbench" in name else models.DEFAULT_TEACHER
        shape = (3, 32, 32) if "airbench" in name else (1, 28, 28)
        ratio = models.count_params(models.build(teacher, shape)) / models.count_params(models.build(name, shape))
        assert ratio >= 10, (name, ratio)
    assert 90 < models.count_params(models.build("teacher-airbench", (3, 32, 32))) / models.count_params(
        models.build("student-airbench-100x", (3, 32, 32))) < 110


def test_airbench_params_and_macs_by_hand():
    """teacher-airbench on 32×32 RGB: whitening 2×2 conv 3->24 (+24 biases, 31×31 out), three blocks
    of two 3×3 convs (64, 256, 256 channels; the pool after the first conv), BatchNorms with a
    learned bias and a (frozen) scale, a 256->10 linear without bias."""
    model = models.build("teacher-airbench", (3, 32, 32))
    convs = [(24, 64), (64, 64), (64, 256), (256, 256), (256, 256), (256, 256)]
    params = 24 * 3 * 4 + 24 + sum(9 * a * b for a, b in convs) + 2 * (2 * 64 + 4 * 256) + 256 * 10
    assert models.count_params(model) == params == 1_972_792
    # MACs per pass: whitening at 31², block 1's convs at 31² and 15², block 2's at 15² and 7², block 3's at 7²
    # and 3²; the linear layer. Test-time flip: two passes per image in eval mode.
    sides = [31, 15, 15, 7, 7, 3]
    one_pass = 31 * 31 * 24 * 12 + sum(s * s * b * a * 9 for s, (a, b) in zip(sides, convs)) + 256 * 10
    assert models.count_macs(model, (3, 32, 32)) == 2 * one_pass


def test_patch_whitening_decorrelates_patches():
    """After fitting, the whitening layer's first half of outputs (eigenvectors / √(λ + ε)) has
    covariance diag(λ / (λ + ε)) on the fitted patches: the identity where λ ≫ ε."""
    g = torch.Generator().manual_seed(0)
    mix = torch.randn(3, 3, generator=g)
    images = torch.einsum("nchw,dc->ndhw", torch.randn(400, 3, 12, 12, generator=g), mix)  # correlated channels
    layer = models.PatchWhitening(3)
    layer.fit(images, eps=1e-9)
    with torch.no_grad():
        out = torch.nn.functional.conv2d(images, layer.weight[:12])  # no bias
    flat = out.permute(0, 2, 3, 1).reshape(-1, 12).double()
    covariance = flat.T @ flat / len(flat)
    assert torch.allclose(covariance, torch.eye(12, dtype=torch.float64), atol=1e-3)
    assert torch.equal(layer.weight[12:], -layer.weight[:12]) and not layer.weight.requires_grad


def test_test_time_flip_gives_a_mirror_the_same_logits():
    """teacher-airbench in eval mode averages the logits of an image and its mirror: an image and its
    mirror get identical logits; in training mode (one pass) they differ."""
    model = models.build("teacher-airbench", (3, 32, 32)).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), model(x.flip(-1)))
        model.train()
        assert not torch.allclose(model(x), model(x.flip(-1)))


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
