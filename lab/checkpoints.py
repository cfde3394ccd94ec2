"""Checkpoints: `model.safetensors` (weights only, no code) + `model.json` (the model card).

Loading never unpickles anything: safetensors is a JSON header plus raw tensors. The card
names an architecture from the zoo; the weights must match that architecture key by key
and shape by shape, or loading is refused with a message that says what is wrong.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from .atomic import write_atomically
from .errors import CheckpointError
from .models import MODELS, build, to_safetensors

WEIGHTS, CARD = "model.safetensors", "model.json"
TRAIN_LOGITS = "train_logits.safetensors"  # optional: a teacher's logits on its training set, with their key
MAX_BYTES = 64 * 1024 * 1024  # far above any model in the zoo; refuses huge uploads early
CARD_VERSION = 1


def make_card(model: torch.nn.Module, dataset, metrics: dict, **extra) -> dict:
    """The JSON card: enough to rebuild the model and to know what its numbers mean."""
    return {"card_version": CARD_VERSION, "arch": model.arch, "dataset": dataset.name,
            "input_shape": list(dataset.shape), "classes": list(dataset.classes),
            "mean": list(dataset.mean), "std": list(dataset.std), "metrics": metrics, **extra}


def save(folder: Path, model: torch.nn.Module, card: dict) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # Each file through its own temporary file, then renamed: a crash never leaves half a checkpoint
    # behind, and two jobs saving the same folder (a shared teacher cache) never share a temp file.
    write_atomically(folder / WEIGHTS, to_safetensors(model))
    write_atomically(folder / CARD, json.dumps(_finite(card), indent=2))
    return folder


def _finite(value):
    """JSON has no NaN/inf: write them as null so every card is valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def read_card(folder: Path) -> dict:
    path = Path(folder) / CARD
    if not Path(folder).is_dir():
        raise CheckpointError(f"{folder} is not a folder. Give the folder that holds {WEIGHTS} and {CARD}.")
    if not path.is_file():
        raise CheckpointError(f"{folder} has no {CARD}: it is not a lab checkpoint. "
                              "Train one with `python -m lab teacher --out DIR`.")
    try:
        card = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON ({e}). The checkpoint is damaged: train it again.") from None
    return validate_card(card, path)


def validate_card(card, where="the model card") -> dict:
    if not isinstance(card, dict):
        raise CheckpointError(f"{where} is not a JSON object describing a model.")
    arch = card.get("arch")
    if arch not in MODELS:
        raise CheckpointError(f"{where} names the architecture {arch!r}, which the lab does not know. "
                              f"Known: {', '.join(MODELS)}.")
    shape = card.get("input_shape")
    if not (isinstance(shape, list) and len(shape) == 3 and shape[0] in (1, 3) and shape[1] == shape[2]
            and shape[1] in (28, 32)):
        raise CheckpointError(f"{where} has input_shape {shape!r}; the lab takes [1, 28, 28] or [3, 32, 32] images.")
    classes = card.get("classes")
    if not (isinstance(classes, list) and 2 <= len(classes) <= 1000):
        raise CheckpointError(f"{where} must list the class names (got {classes!r}).")
    for key in ("mean", "std"):
        v = card.get(key)
        if not (isinstance(v, list) and len(v) == shape[0]
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)):
            raise CheckpointError(f"{where} needs {key} with one finite number per channel (got {v!r}).")
    if not all(x > 0 for x in card["std"]):
        raise CheckpointError(f"{where} has std {card['std']!r}; a standard deviation must be above 0 "
                              "(the inputs are divided by it). Upload the card written with the weights.")
    return card


def load_weights(data: bytes, card: dict, where: str = "the weights file") -> torch.nn.Module:
    """Build the card's architecture and fill it from safetensors bytes, strictly."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    if len(data) > MAX_BYTES:
        raise CheckpointError(f"{where} is {len(data) / 1e6:.0f} MB; the lab's models are under "
                              f"{MAX_BYTES // 2**20} MB. Is this the right file?")
    try:
        tensors = load_safetensors(data)
    except (SafetensorError, Exception):  # a pickle, a random file, a truncated file
        raise CheckpointError(f"{where} is not a safetensors file ({_looks_like(data)}). The lab only loads "
                              "safetensors weights (never pickles): export them with `python -m lab teacher`.") from None
    model = build(card["arch"], tuple(card["input_shape"]), len(card["classes"]))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{where} does not fit architecture {card['arch']!r}: "
                              f"missing {missing[:3]}, unexpected {unexpected[:3]}. Is the card for another model?")
    for key, tensor in tensors.items():
        if tensor.dtype in (torch.float16, torch.bfloat16) and expected[key].dtype == torch.float32:
            tensors[key] = tensor = tensor.float()  # stored at half precision (models.to_safetensors)
        if tensor.shape != expected[key].shape or tensor.dtype != expected[key].dtype:
            raise CheckpointError(f"{where}: {key} has shape {tuple(tensor.shape)} {tensor.dtype}, but "
                                  f"{card['arch']!r} on {card['input_shape']} inputs needs "
                                  f"{tuple(expected[key].shape)} {expected[key].dtype}. Wrong input shape or classes?")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"{where}: {key} holds NaN or infinite values (a diverged run?). Train it again.")
    model.load_state_dict(tensors, strict=True)
    model.eval()
    return model


def load(folder: Path) -> tuple[torch.nn.Module, dict]:
    """(model in eval mode on the CPU, card) from a checkpoint folder."""
    folder = Path(folder)
    card = read_card(folder)
    path = folder / WEIGHTS
    if not path.is_file():
        raise CheckpointError(f"{folder} has a card but no {WEIGHTS}. Train the model again.")
    if path.stat().st_size > MAX_BYTES:
        raise CheckpointError(f"{path} is {path.stat().st_size / 1e6:.0f} MB, larger than any lab model. "
                              "Is this the right file?")
    model = load_weights(path.read_bytes(), card, str(path))
    if (folder / TRAIN_LOGITS).is_file():  # saved with its logits on its training images (recipes.teacher_train_logits)
        model.train_logits_file = str(folder / TRAIN_LOGITS)
    return model, card


def _looks_like(data: bytes) -> str:
    """A guess at what a refused file is, for the error message."""
    head = bytes(data[:8])
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "it is a Python pickle, which could run code when loaded"
    if head[:4] == b"PK\x03\x04":
        return "it is a zip archive, e.g. a PyTorch .pt/.pth file saved with torch.save"
    if head[:1] in (b"{", b"["):
        return "it looks like JSON: is it the card?"
    if head[:8] == b"\x89PNG\r\n\x1a\n" or head[:3] == b"\xff\xd8\xff":
        return "it is an image"
    return "it is truncated or not a model file"


MAX_CARD_BYTES = 1024 * 1024


def check_fits_dataset(card: dict, dataset) -> None:
    """Refuse, in one sentence, a card made for another dataset, input shape or number of classes."""
    if card.get("dataset") != dataset.name:
        raise CheckpointError(f"This model was trained on {card.get('dataset')!r}, but here the data is "
                              f"{dataset.name!r}: upload a model trained on {dataset.name}.")
    if list(card["input_shape"]) != list(dataset.shape):
        raise CheckpointError(f"This model takes {card['input_shape']} images, but here the images are "
                              f"{list(dataset.shape)}. Upload a model trained on this dataset.")
    if len(card["classes"]) != dataset.num_classes:
        raise CheckpointError(f"This model has {len(card['classes'])} classes but {dataset.name} has "
                              f"{dataset.num_classes}. Upload a model trained on this dataset.")


def use_card_normalization(model: torch.nn.Module, card: dict, mean, std) -> torch.nn.Module:
    """Make `model` see its inputs as it was trained to: normalized with its card's mean and std.

    The lab feeds every model images normalized with the dataset's (mean, std); a model trained
    with other statistics first gets them converted, x_card = x · std / std_card + (mean − mean_card)
    / std_card per channel (the same pixels, re-normalized). A forward pre-hook on the model's first
    layer does it, so model(x), model.body(x) and a walk over the body's layers all see it; the
    weights and the state dict are unchanged. No hook when the statistics agree."""
    card_mean = torch.tensor(card["mean"], dtype=torch.float64)
    card_std = torch.tensor(card["std"], dtype=torch.float64)
    mean, std = torch.as_tensor(mean, dtype=torch.float64), torch.as_tensor(std, dtype=torch.float64)
    scale, shift = std / card_std, (mean - card_mean) / card_std  # (C,) each
    model.input_normalization = {"mean": card_mean.tolist(), "std": card_std.tolist()}
    if torch.allclose(scale, torch.ones_like(scale), rtol=0, atol=1e-7) and shift.abs().max() <= 1e-7:
        return model

    def renormalize(module, args):
        x = args[0]  # (B, C, H, W), normalized with the dataset's statistics
        view = (1, -1) + (1,) * (x.dim() - 2)
        return (x * scale.to(x.device, x.dtype).view(view) + shift.to(x.device, x.dtype).view(view), *args[1:])
    first = model.body[0] if isinstance(getattr(model, "body", None), torch.nn.Sequential) else model
    first.register_forward_pre_hook(renormalize)
    return model


def from_upload(weights: bytes, card: bytes, max_bytes: int = MAX_BYTES,
                expect_shape: tuple[int, int, int] | None = None, dataset=None) -> tuple[torch.nn.Module, dict]:
    """(model, card) from an uploaded safetensors file and its JSON card, or a CheckpointError
    that says what is wrong. Sizes are checked before anything is parsed; nothing is unpickled.
    `expect_shape`: the (C, H, W) the caller will feed. `dataset`: the data it will be scored and
    used on — a card made for another dataset, input shape or class count is refused, and the
    model is given its card's normalization (`use_card_normalization`) for that data's inputs."""
    if len(weights) > max_bytes:
        raise CheckpointError(f"The weights file is {len(weights) / 1e6:.0f} MB; the limit is "
                              f"{max_bytes / 1e6:.0f} MB and the lab's models are far smaller. Is this the right file?")
    if len(card) > MAX_CARD_BYTES:
        raise CheckpointError(f"The card is {len(card) / 1e6:.1f} MB; a model card is a few KB of JSON. "
                              "Upload the model.json written next to model.safetensors.")
    try:
        parsed = json.loads(bytes(card).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"The card is not valid JSON ({e}). Upload the model.json written next to "
                              "model.safetensors, unchanged.") from None
    parsed = validate_card(parsed, "The card")
    if expect_shape is not None and list(parsed["input_shape"]) != list(expect_shape):
        raise CheckpointError(f"This model takes {parsed['input_shape']} images, but here the images are "
                              f"{list(expect_shape)}. Upload a model trained on this dataset.")
    if dataset is not None:
        check_fits_dataset(parsed, dataset)
    model = load_weights(bytes(weights), parsed, "The weights file")
    if dataset is not None:
        use_card_normalization(model, parsed, dataset.mean, dataset.std)
    return model, parsed
