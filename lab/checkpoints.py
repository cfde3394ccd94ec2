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

from .errors import CheckpointError
from .models import MODELS, build, to_safetensors

WEIGHTS, CARD = "model.safetensors", "model.json"
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
    # Write to temporary names, then rename: a crash never leaves half a checkpoint behind.
    (folder / (WEIGHTS + ".tmp")).write_bytes(to_safetensors(model))
    (folder / (CARD + ".tmp")).write_text(json.dumps(_finite(card), indent=2))
    (folder / (WEIGHTS + ".tmp")).replace(folder / WEIGHTS)
    (folder / (CARD + ".tmp")).replace(folder / CARD)
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
        if not (isinstance(v, list) and len(v) == shape[0] and all(isinstance(x, (int, float)) for x in v)):
            raise CheckpointError(f"{where} needs {key} with one number per channel (got {v!r}).")
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
    except (SafetensorError, Exception) as e:  # a pickle, a random file, a truncated file
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
    return load_weights(path.read_bytes(), card, str(path)), card


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


def from_upload(weights: bytes, card: bytes, max_bytes: int = MAX_BYTES,
                expect_shape: tuple[int, int, int] | None = None) -> tuple[torch.nn.Module, dict]:
    """(model, card) from an uploaded safetensors file and its JSON card, or a CheckpointError
    that says what is wrong. Sizes are checked before anything is parsed; nothing is unpickled.
    `expect_shape`: the (C, H, W) the caller will feed (e.g. the dataset of the page)."""
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
    return load_weights(bytes(weights), parsed, "The weights file"), parsed
