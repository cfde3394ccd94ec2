"""The model zoo: named teacher and student builders, and how big / fast a model is.

Every model takes (B, C, H, W) normalized images with C in {1, 3} and H = W in {28, 32}
and returns (B, K) logits. Convolutional models are `body` (a feature map, the place
where hint and attention distillation look) then `head` (pool + linear).

    build("teacher-cnn", shape=(1, 28, 28), num_classes=10)
    describe(model, shape) -> {"params", "bytes", "macs", "latency_ms_b1", "latency_ms_b256"}
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch
from torch import nn


def _conv(c_in: int, c_out: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class ConvNet(nn.Module):
    """conv blocks (2×2 max-pools after some) -> max-pool to a grid × grid map -> linear.

    `first_stride=2` halves the image in the first layer: 4× fewer multiply-adds in every
    later layer for almost no accuracy on 28×28 digits (the teacher is tuned for time-to-accuracy).
    """

    def __init__(self, in_channels: int, widths: list[int], num_classes: int, pool_after: set[int],
                 first_stride: int = 1, grid: int = 1, hidden: int = 0):
        super().__init__()
        layers, c = [], in_channels
        for i, w in enumerate(widths):
            layers.append(_conv(c, w, stride=first_stride if i == 0 else 1))
            if i in pool_after:
                layers.append(nn.MaxPool2d(2))
            c = w
        self.body = nn.Sequential(*layers)  # (B, C, H', W') feature map
        features = c * grid * grid
        head = [nn.AdaptiveMaxPool2d(grid), nn.Flatten()]
        if hidden:  # a wide dense layer: many parameters for few multiply-adds
            head += [nn.Linear(features, hidden), nn.ReLU(inplace=True), nn.Dropout(0.25)]
            features = hidden
        self.head = nn.Sequential(*head, nn.Linear(features, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class MLP(nn.Module):
    """flatten -> hidden layer(s) (ReLU) -> logits: the smallest idea of a network."""

    def __init__(self, in_features: int, hidden: int | list[int], num_classes: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        for width in [hidden] if isinstance(hidden, int) else hidden:
            layers += [nn.Linear(in_features, width), nn.ReLU(inplace=True)]
            in_features = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class PatchWhitening(nn.Conv2d):
    """A frozen 2×2 convolution that whitens image patches (airbench, Jordan 2024): its filters are
    the eigenvectors of the training patches' covariance, each scaled by 1/√eigenvalue, and their
    negatives (so a GELU after it loses nothing). The net then starts from decorrelated,
    unit-variance inputs; only the bias trains. (B, C, H, W) -> (B, 2·C·4, H−1, W−1)."""

    def __init__(self, in_channels: int):
        super().__init__(in_channels, 2 * in_channels * 4, kernel_size=2, padding=0, bias=True)
        self.weight.requires_grad_(False)
        nn.init.zeros_(self.bias)

    @torch.no_grad()
    def fit(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """Set the filters from normalized float images (N, C, H, W): a few thousand suffice."""
        c = images.shape[1]
        patches = images.float().unfold(2, 2, 1).unfold(3, 2, 1)           # (N, C, H-1, W-1, 2, 2)
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * 4).double()
        covariance = patches.T @ patches / len(patches)                   # (4C, 4C)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)         # ascending
        filters = (eigenvectors.T / (eigenvalues.clamp_min(0) + eps).sqrt()[:, None]).flip(0)
        filters = filters.reshape(c * 4, c, 2, 2).float()
        self.weight.copy_(torch.cat([filters, -filters]))


def _air_conv(c_in: int, c_out: int) -> nn.Conv2d:
    """3×3 conv, no bias; its first c_in filters start as the identity (airbench's dirac init:
    the deep net starts close to a shallow one)."""
    conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[:min(c_in, c_out)])
    return conv


def _air_norm(c: int) -> nn.BatchNorm2d:
    # Fast running statistics (momentum 0.4) and no trainable scale: GELU after it, the scale is redundant.
    norm = nn.BatchNorm2d(c, eps=1e-12, momentum=0.4)
    norm.weight.requires_grad_(False)
    return norm


def _air_block(c_in: int, c_out: int) -> nn.Sequential:
    """conv -> 2×2 max-pool -> BN -> GELU -> conv -> BN -> GELU: halves the side."""
    return nn.Sequential(_air_conv(c_in, c_out), nn.MaxPool2d(2), _air_norm(c_out), nn.GELU(),
                         _air_conv(c_out, c_out), _air_norm(c_out), nn.GELU())


class Scale(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


class AirNet(nn.Module):
    """An airbench-style net (Jordan 2024, arXiv:2404.00498), built for time-to-accuracy:
    patch whitening -> GELU -> three blocks (each halves the side) -> global max-pool -> linear / 9.

    `flip_tta`: in eval mode the logits are the mean over the image and its mirror (test-time
    flip), so every evaluation, cached teacher logit and card sees the same function."""

    def __init__(self, in_channels: int, widths: tuple[int, int, int], num_classes: int,
                 flip_tta: bool = False):
        super().__init__()
        whitening = PatchWhitening(in_channels)
        blocks, c = [], whitening.out_channels
        for w in widths:
            blocks.append(_air_block(c, w))
            c = w
        self.body = nn.Sequential(whitening, nn.GELU(), *blocks)  # (B, widths[-1], s, s)
        self.head = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten(),
                                  nn.Linear(c, num_classes, bias=False), Scale(1 / 9))
        self.flip_tta = flip_tta

    def extra_repr(self) -> str:  # in repr(model): a cache keyed on it tells the two functions apart
        return f"flip_tta={self.flip_tta}"

    def fit_whitening(self, images: torch.Tensor) -> None:
        self.body[0].fit(images)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.body(x))
        if self.flip_tta and not self.training:
            logits = (logits + self.head(self.body(x.flip(-1)))) / 2
        return logits


Builder = Callable[[tuple[int, int, int], int], nn.Module]

# name -> (role, one-line description, builder(shape, num_classes))
MODELS: dict[str, tuple[str, str, Builder]] = {
    "teacher-cnn": ("teacher", "3 conv layers (32-64-128 channels, the first with stride 2) + 256-unit dense layer",
                    lambda s, k: ConvNet(s[0], [32, 64, 128], k, pool_after={1, 2}, first_stride=2, grid=3,
                                         hidden=256)),
    "student-cnn-small": ("student", "3 conv layers (16-32-32 channels)",
                          lambda s, k: ConvNet(s[0], [16, 32, 32], k, pool_after={0, 1})),
    "student-cnn-tiny": ("student", "2 conv layers (8-16 channels)",
                         lambda s, k: ConvNet(s[0], [8, 16], k, pool_after={0, 1})),
    "student-mlp": ("student", "2-layer MLP, 48 hidden units",
                    lambda s, k: MLP(s[0] * s[1] * s[2], 48, k)),
}
# CIFAR-10 (any shape works): an airbench-style teacher and a ladder of students of the same design,
# ~10× and ~100× fewer parameters (EXPERIMENTS.md, CIFAR-10).
MODELS["teacher-airbench"] = ("teacher", "airbench-style net: patch whitening, 3 blocks (64-256-256 channels), "
                              "BatchNorm + GELU, test-time flip",
                              lambda s, k: AirNet(s[0], (64, 256, 256), k, flip_tta=True))
MODELS["teacher-airbench-half"] = ("teacher", "airbench-style net at half width: patch whitening, 3 blocks "
                                   "(32-128-128 channels), BatchNorm + GELU, test-time flip",
                                   lambda s, k: AirNet(s[0], (32, 128, 128), k, flip_tta=True))
MODELS["student-airbench-10x"] = ("student", "airbench-style student, 3 blocks (32-64-88 channels): "
                                  "10× fewer parameters than teacher-airbench",
                                  lambda s, k: AirNet(s[0], (32, 64, 88), k))
MODELS["student-airbench-100x"] = ("student", "airbench-style student, 3 blocks (8-16-32 channels): "
                                   "~97× fewer parameters than teacher-airbench",
                                   lambda s, k: AirNet(s[0], (8, 16, 32), k))
# The cost-quality frontier's ladder (lab/experiments/frontier.py): MLPs from ~2× to ~240× fewer
# parameters than teacher-cnn. Role "ladder", not "student": the pickers keep the lesson's students.
for _width in (256, 96, 12, 4, 2):
    MODELS[f"student-mlp-{_width}"] = ("ladder", f"2-layer MLP, {_width} hidden units",
                                       lambda s, k, w=_width: MLP(s[0] * s[1] * s[2], w, k))
# Hinton et al. 2015's distilled net (§3, the omitted class): 3× the teacher's parameters, yet ~6× fewer
# multiply-adds. Role "wide", not "student": the compact-student pickers leave it out; the
# omitted-class experiment (lab/experiments/omit.py) uses it by default, where a 48-unit MLP is too
# small to learn the missing class from the other digits' soft targets (EXPERIMENTS.md).
MODELS["student-mlp-2x800"] = ("wide", "3-layer MLP, 2 × 800 hidden units (Hinton et al. 2015's distilled net)",
                               lambda s, k: MLP(s[0] * s[1] * s[2], [800, 800], k))
TEACHERS = [n for n, (role, _, _) in MODELS.items() if role == "teacher"]
STUDENTS = [n for n, (role, _, _) in MODELS.items() if role == "student"]
DEFAULT_TEACHER = "teacher-cnn"
DEFAULT_STUDENT = "student-mlp"


def build(name: str, shape: tuple[int, int, int] = (1, 28, 28), num_classes: int = 10) -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}. Choose one of: {', '.join(MODELS)}.")
    model = MODELS[name][2](tuple(shape), num_classes)
    model.arch = name  # travels with the model into checkpoints and cards
    return model


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def to_safetensors(model: nn.Module, half: bool = False) -> bytes:
    """The model's weights and buffers as a safetensors file (what checkpoints write).
    `half`: float tensors of 1,024+ values (conv and linear weights) stored as float16, half the
    bytes; small ones (BatchNorm statistics, biases) stay float32. Loading turns them back into
    float32 (lab.checkpoints.load_weights): the model then computes with the rounded weights."""
    from safetensors.torch import save

    def stored(v: torch.Tensor) -> torch.Tensor:
        v = v.detach().cpu().contiguous()
        return v.half() if half and v.dtype == torch.float32 and v.numel() >= 1024 else v
    tensors = {k: stored(v) for k, v in model.state_dict().items()}
    return save(tensors, metadata={"arch": getattr(model, "arch", type(model).__name__)})


def saved_bytes(model: nn.Module) -> int:
    """Bytes on disk of the model's saved file."""
    return len(to_safetensors(model))


@torch.no_grad()
def count_macs(model: nn.Module, shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates for one image, counted by forward hooks on conv and linear layers."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            per_position = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total += output[0].numel() * per_position
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        model(torch.zeros(1, *shape, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total


@torch.no_grad()
def measure_latency_ms(model: nn.Module, shape: tuple[int, int, int], batch: int, repeats: int = 5) -> float:
    """Median CPU wall time per *image* (ms) at the given batch size, fp32, eval mode."""
    import copy
    cpu_model = copy.deepcopy(model).cpu().eval()
    x = torch.randn(batch, *shape)
    cpu_model(x)  # warm-up: first call allocates and picks kernels
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        cpu_model(x)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times) / batch


def describe(model: nn.Module, shape: tuple[int, int, int], latency: bool = True) -> dict:
    """Size and speed of a model: what the Compare page and the model cards report."""
    info = {"arch": getattr(model, "arch", type(model).__name__), "params": count_params(model),
            "bytes": saved_bytes(model), "macs": count_macs(model, shape)}
    if latency:
        info["latency_ms_b1"] = measure_latency_ms(model, shape, 1, repeats=20)
        info["latency_ms_b256"] = measure_latency_ms(model, shape, 256, repeats=3)
    return info
