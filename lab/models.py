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


def to_safetensors(model: nn.Module) -> bytes:
    """The model's weights and buffers as a safetensors file (what checkpoints write)."""
    from safetensors.torch import save
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
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
